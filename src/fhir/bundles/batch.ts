import { FhirError } from '../errors.js';
import { runBeforeOperation } from '../hooks.js';
import type { FhirRequest, Services } from '../interactions/types.js';
import { entryError } from './entry-error.js';
import type { EntryResult } from './entry-result.js';
import { type EntryPlan, isRead, METHOD_ORDER, type PlannedEntry } from './parse-bundle.js';
import { readEntry } from './read-entry.js';
import { entryLabel } from './transaction.js';
import {
  addReferenceTarget,
  entryOperation,
  resolveTarget,
  writeDelete,
  writeTarget,
} from './write-entry.js';

/**
 * A batch: every entry on its own, in its own database transaction, in the
 * spec's order; a failing entry gets its OperationOutcome and the others go on.
 * References to the fullUrl of an entry already stored are resolved as in a
 * transaction (the spec leaves this to the server; it only ever helps).
 */
export async function runBatch(
  plans: EntryPlan[],
  services: Services,
  req: Pick<FhirRequest, 'baseUrl' | 'ctx'>,
): Promise<EntryResult[]> {
  const results: EntryResult[] = new Array(plans.length);
  const references = new Map<string, string>();
  const ordered = plans
    .filter((plan): plan is PlannedEntry => !('error' in plan))
    .sort((a, b) => METHOD_ORDER[a.method]! - METHOD_ORDER[b.method]!);
  for (const plan of plans) {
    if ('error' in plan) results[plan.index] = { kind: 'error', error: plan.error };
  }
  for (const entry of ordered) {
    try {
      results[entry.index] = await processEntry(entry, services, req, references);
    } catch (err) {
      if (!(err instanceof FhirError)) throw err;
      results[entry.index] = {
        kind: 'error',
        error: entryError(entry.index, entryLabel(entry), err),
      };
    }
  }
  return results;
}

async function processEntry(
  entry: PlannedEntry,
  services: Services,
  req: Pick<FhirRequest, 'baseUrl' | 'ctx'>,
  references: Map<string, string>,
): Promise<EntryResult> {
  if (isRead(entry)) {
    const result = await readEntry(services, entry, req);
    if (result.kind === 'error') throw result.error;
    return result;
  }
  await runBeforeOperation(services.hooks, entryOperation(entry), req.ctx);
  if (entry.method === 'DELETE') {
    return services.store.transaction(req.ctx, (writer) => writeDelete(writer, services, entry));
  }
  return services.store.transaction(req.ctx, async (writer) => {
    const target = await resolveTarget(writer, services, entry, req.ctx);
    const own = new Map(references);
    addReferenceTarget(own, target, req.baseUrl);
    const result = await writeTarget(writer, target, own);
    addReferenceTarget(references, target, req.baseUrl);
    return result;
  });
}
