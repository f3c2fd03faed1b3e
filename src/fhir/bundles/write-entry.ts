import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../hooks.js';
import { createVersion, matchIfNoneExist } from '../interactions/create.js';
import { conditionalDelete, deleteVersion } from '../interactions/delete.js';
import type { Services, WriteResult } from '../interactions/types.js';
import { conditionalUpdateId, updateVersion } from '../interactions/update.js';
import type { Writer } from '../storage/resource-store.js';
import type { EntryResult } from './entry-result.js';
import type { PlannedEntry } from './parse-bundle.js';
import { rewriteReferences } from './references.js';

export type WriteEntry = Extract<PlannedEntry, { method: 'POST' | 'PUT' }>;
export type DeleteEntry = Extract<PlannedEntry, { method: 'DELETE' }>;

/** Where a create or update entry goes, decided before anything referring to it is written. */
export interface Target {
  entry: WriteEntry;
  id: string;
  /** The resource a conditional create matched: nothing is written for it. */
  existing?: WriteResult;
}

/** The operation the beforeOperation hooks see for a write entry. */
export function entryOperation(entry: WriteEntry | DeleteEntry) {
  const interaction =
    entry.method === 'POST' ? 'create' : entry.method === 'PUT' ? 'update' : 'delete';
  return {
    interaction,
    resourceType: entry.type,
    id: entry.method === 'POST' ? undefined : entry.id,
  } as const;
}

/** Looks up conditional criteria (ifNoneExist, `PUT Type?query`) and fixes the entry's id. */
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

/** Writes a create or update entry with its references rewritten. */
export async function writeTarget(
  writer: Writer,
  target: Target,
  references: ReadonlyMap<string, string>,
): Promise<EntryResult> {
  if (target.existing) return { kind: 'write', result: target.existing };
  const { entry, id } = target;
  rewriteReferences(entry.resource, references);
  const result =
    entry.method === 'POST'
      ? await createVersion(writer, entry.type, entry.resource, id)
      : await updateVersion(writer, entry.type, id, entry.resource, entry.ifMatch);
  return { kind: 'write', result };
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
