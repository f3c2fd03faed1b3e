import { randomUUID } from 'node:crypto';
import type { Resource } from 'fhir/r4.js';
import type { RequestContext } from '../hooks.js';
import { matchIfNoneExist, withoutId } from '../interactions/create.js';
import { conditionalDelete, deleteVersion } from '../interactions/delete.js';
import { conditionalPatchId, patchedResource } from '../interactions/patch.js';
import type { Services, WriteResult } from '../interactions/types.js';
import { conditionalUpdateId } from '../interactions/update.js';
import { type WriteRequest, WriteRequestError, type Writer } from '../storage/resource-store.js';
import type { EntryResult } from './entry-result.js';
import type { PlannedEntry } from './parse-bundle.js';
import { rewriteReferences } from './references.js';

export type WriteEntry = Extract<PlannedEntry, { method: 'POST' | 'PUT' | 'PATCH' }>;
export type DeleteEntry = Extract<PlannedEntry, { method: 'DELETE' }>;

/** Where a create, update or patch entry goes, decided before anything referring to it is written. */
export interface Target {
  entry: WriteEntry;
  id: string;
  /** The resource a conditional create matched: nothing is written for it. */
  existing?: WriteResult;
  /** A patch entry's result: the current version with the patch applied, checked valid. */
  patched?: Resource;
}

const INTERACTIONS = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as const;

/** The operation the beforeOperation hooks see for a write entry. */
export function entryOperation(entry: WriteEntry | DeleteEntry) {
  const interaction = INTERACTIONS[entry.method];
  return {
    interaction,
    resourceType: entry.type,
    id: entry.method === 'POST' ? undefined : entry.id,
  } as const;
}

/**
 * Looks up conditional criteria (ifNoneExist, `PUT Type?query`, `PATCH Type?query`) and fixes
 * the entry's id; a patch is applied here, to the current version, locked until commit.
 */
export async function resolveTarget(
  writer: Writer,
  services: Services,
  entry: WriteEntry,
  ctx: RequestContext,
): Promise<Target> {
  if (entry.method === 'POST') {
    const existing = entry.ifNoneExist
      ? await matchIfNoneExist(writer, services, entry.type, entry.ifNoneExist, ctx)
      : undefined;
    return existing ? { entry, id: existing.version.id, existing } : { entry, id: randomUUID() };
  }
  if (entry.method === 'PATCH') {
    const id = entry.id ?? (await conditionalPatchId(writer, services, entry.type, entry.query!));
    const { type, patch, ifMatch } = entry;
    const patched = await patchedResource(writer, services, ctx, type, id, patch, ifMatch);
    return { entry, id, patched };
  }
  const id =
    entry.id ??
    (await conditionalUpdateId(writer, services, entry.type, entry.query!, entry.resource));
  return { entry, id };
}

/** Adds what references to the entry's fullUrl must become (`Type/id`). */
export function addReferenceTarget(
  targets: Map<string, string>,
  { entry, id }: Target,
  baseUrl: string,
): void {
  if (entry.fullUrl === undefined) return;
  const local = `${entry.type}/${id}`;
  targets.set(entry.fullUrl, local);
  // `[base]/Type/old` may also be referred to relatively, as `Type/old`.
  if (entry.fullUrl.startsWith(`${baseUrl}/`)) {
    const relative = entry.fullUrl.slice(baseUrl.length + 1);
    if (relative !== local) targets.set(relative, local);
  }
}

/**
 * Writes the create and update entries, references rewritten, in one statement. A
 * target that cannot be written (its If-Match failed) throws a WriteRequestError
 * whose index is its position in `targets`.
 */
export async function writeTargets(
  writer: Writer,
  targets: Target[],
  references: ReadonlyMap<string, string>,
): Promise<EntryResult[]> {
  const toWrite = targets.filter((t) => !t.existing);
  const requests: WriteRequest[] = toWrite.map(({ entry, id, patched }) => {
    if (entry.method === 'PATCH') {
      // References in the patch's values name fullUrls of the bundle like any entry's.
      rewriteReferences(patched, references);
      return {
        resourceType: entry.type,
        id,
        method: 'PATCH',
        resource: patched,
        ifMatch: entry.ifMatch,
      };
    }
    rewriteReferences(entry.resource, references);
    return entry.method === 'POST'
      ? {
          resourceType: entry.type,
          id,
          method: 'POST',
          resource: withoutId(entry.resource),
          freshId: true,
        }
      : {
          resourceType: entry.type,
          id,
          method: 'PUT',
          resource: { ...entry.resource, id },
          ifMatch: entry.ifMatch,
        };
  });
  const written = await writer.writeMany(requests).catch((err: unknown) => {
    if (err instanceof WriteRequestError) {
      throw new WriteRequestError(targets.indexOf(toWrite[err.index]!), err.error);
    }
    throw err;
  });
  let next = 0;
  return targets.map((target): EntryResult => {
    if (target.existing) return { kind: 'write', result: target.existing };
    const { version, created } = written[next++]!;
    const status = target.entry.method === 'POST' || created ? 201 : 200;
    return { kind: 'write', result: { status, version, resource: version.resource } };
  });
}

/** Writes one create, update or patch entry (a batch entry) with its references rewritten. */
export async function writeTarget(
  writer: Writer,
  target: Target,
  references: ReadonlyMap<string, string>,
): Promise<EntryResult> {
  try {
    return (await writeTargets(writer, [target], references))[0]!;
  } catch (err) {
    throw err instanceof WriteRequestError ? err.error : err;
  }
}

export async function writeDelete(
  writer: Writer,
  services: Services,
  entry: DeleteEntry,
): Promise<EntryResult> {
  const version =
    entry.id !== undefined
      ? await deleteVersion(writer, entry.type, entry.id, entry.ifMatch)
      : await conditionalDelete(writer, services, entry.type, entry.query!, entry.ifMatch);
  return { kind: 'delete', version };
}
