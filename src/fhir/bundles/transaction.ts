import { badRequest, FhirError } from '../errors.js';
import { runBeforeOperation } from '../hooks.js';
import type { FhirRequest, Services } from '../interactions/types.js';
import { WriteRequestError } from '../storage/resource-store.js';
import { entryError } from './entry-error.js';
import type { EntryResult } from './entry-result.js';
import { type EntryPlan, isRead, METHOD_ORDER, type PlannedEntry } from './parse-bundle.js';
import { readEntry } from './read-entry.js';
import {
  addReferenceTarget,
  type DeleteEntry,
  entryOperation,
  resolveTarget,
  type Target,
  type WriteEntry,
  writeDelete,
  writeTargets,
} from './write-entry.js';

/**
 * A transaction: every write in ONE database transaction, in the spec's order
 * (DELETE, POST, PUT/PATCH), with fullUrls resolved in every reference. Any failing
 * entry fails the whole bundle with an OperationOutcome naming it, and nothing
 * is stored. GET entries are answered after the commit, so they see its result.
 */
export async function runTransaction(
  plans: EntryPlan[],
  services: Services,
  req: Pick<FhirRequest, 'baseUrl' | 'ctx'>,
): Promise<EntryResult[]> {
  const entries = plans.map((plan) => {
    if ('error' in plan) throw plan.error;
    return plan;
  });
  const ordered = [...entries].sort((a, b) => METHOD_ORDER[a.method]! - METHOD_ORDER[b.method]!);
  const deletes = ordered.filter((e): e is DeleteEntry => e.method === 'DELETE');
  const writes = ordered.filter(
    (e): e is WriteEntry => e.method === 'POST' || e.method === 'PUT' || e.method === 'PATCH',
  );
  for (const entry of [...deletes, ...writes]) {
    await naming(entry, () => runBeforeOperation(services.hooks, entryOperation(entry), req.ctx));
  }

  const results: EntryResult[] = new Array(entries.length);
  await services.store.transaction(req.ctx, async (writer) => {
    const changed = new Set<string>();
    const once = (entry: PlannedEntry & { type: string }, id: string | undefined) => {
      if (id === undefined) return;
      const key = `${entry.type}/${id}`;
      if (changed.has(key)) throw badRequest(`${key} is changed by more than one entry`);
      changed.add(key);
    };
    for (const entry of deletes) {
      results[entry.index] = await naming(entry, async () => {
        const result = await writeDelete(writer, services, entry);
        once(entry, entry.id ?? (result.kind === 'delete' ? result.version?.id : undefined));
        return result;
      });
    }
    const references = new Map<string, string>();
    const targets: Target[] = [];
    for (const entry of writes) {
      const target = await naming(entry, async () => {
        const found = await resolveTarget(writer, services, entry, req.ctx);
        if (!found.existing) once(entry, found.id);
        return found;
      });
      addReferenceTarget(references, target, req.baseUrl);
      targets.push(target);
    }
    const written = await writeTargets(writer, targets, references).catch((err: unknown) => {
      if (!(err instanceof WriteRequestError)) throw err;
      const entry = targets[err.index]!.entry;
      throw entryError(entry.index, entryLabel(entry), err.error);
    });
    targets.forEach((target, n) => {
      results[target.entry.index] = written[n]!;
    });
  });

  for (const entry of ordered) {
    if (isRead(entry)) {
      const result = await readEntry(services, entry, req);
      results[entry.index] =
        result.kind === 'error'
          ? { kind: 'error', error: entryError(entry.index, undefined, result.error) }
          : result;
    }
  }
  return results;
}

/** Runs one entry's step; a client error becomes a failure naming the entry. */
async function naming<T>(entry: PlannedEntry, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof FhirError) throw entryError(entry.index, entryLabel(entry), err);
    throw err;
  }
}

/** Enough of the original entry to name it in an OperationOutcome. */
export function entryLabel(entry: PlannedEntry) {
  const url = isRead(entry)
    ? entry.url
    : `${entry.type}${'id' in entry && entry.id ? `/${entry.id}` : ''}${'query' in entry && entry.query ? `?${entry.query}` : ''}`;
  return { fullUrl: entry.fullUrl, request: { method: entry.method, url } };
}
