import type { Bundle, BundleEntry, FhirResource } from 'fhir/r4.js';
import type { Client } from 'fhir-kit-client';

/** One version to verify; `document` is what its hash covers when history already returned it. */
export interface VersionItem {
  resourceType: string;
  id: string;
  versionId: string;
  document?: object;
}

export type Target =
  | { kind: 'version'; resourceType: string; id: string; versionId: string }
  | { kind: 'resource'; resourceType: string; id: string }
  | { kind: 'window'; resourceType?: string; since?: string; until?: string };

const REF = /^([A-Z][A-Za-z]+)(?:\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/(\d+))?)?$/;

/** `Type/id/_history/vid`, `Type/id`, or a time window (optionally of one type). */
export function parseTarget(ref: string | undefined, since?: string, until?: string): Target {
  const match = ref === undefined ? undefined : REF.exec(ref);
  if (ref !== undefined && !match) {
    throw new Error(`"${ref}" is not Type/id, Type/id/_history/vid or Type`);
  }
  const [, resourceType, id, versionId] = match ?? [];
  if (since !== undefined || until !== undefined) {
    if (id) throw new Error('--since/--until select versions of all resources (or of one Type)');
    return { kind: 'window', resourceType, since, until };
  }
  if (!resourceType || !id) {
    throw new Error('name a version (Type/id/_history/vid), a resource (Type/id) or --since');
  }
  return versionId
    ? { kind: 'version', resourceType, id, versionId }
    : { kind: 'resource', resourceType, id };
}

/** Every version the target names, read through the server's history interactions. */
export async function listVersions(
  client: Client,
  target: Target,
  authorize: () => Promise<void>,
): Promise<VersionItem[]> {
  if (target.kind === 'version') return [target];
  await authorize();
  const first =
    target.kind === 'resource'
      ? `${target.resourceType}/${target.id}/_history?_count=500`
      : historyUrl(target);
  let page = (await client.request(first)) as unknown as Bundle;
  const until = target.kind === 'window' && target.until ? Date.parse(target.until) : undefined;
  const items: VersionItem[] = [];
  for (;;) {
    for (const entry of page.entry ?? []) {
      const item = fromEntry(entry);
      if (!item) continue;
      if (until !== undefined && Date.parse(lastModified(entry) ?? '') > until) continue;
      items.push(item);
    }
    await authorize();
    const next = client.nextPage({ bundle: page as never });
    if (!next) return items;
    page = (await next) as unknown as Bundle;
  }
}

function historyUrl(target: Extract<Target, { kind: 'window' }>): string {
  const params = new URLSearchParams({ _count: '500' });
  if (target.since) params.set('_since', target.since);
  return `${target.resourceType ? `${target.resourceType}/` : ''}_history?${params}`;
}

/** A history entry as a version; a deletion becomes the tombstone design.md hashes. */
export function fromEntry(entry: BundleEntry): VersionItem | undefined {
  const resource = entry.resource as FhirResource | undefined;
  if (resource?.id && resource.meta?.versionId) {
    const { resourceType, id } = resource;
    return { resourceType, id, versionId: resource.meta.versionId, document: resource };
  }
  const [resourceType, id] = (entry.request?.url ?? '').split('/');
  const versionId = /^W\/"(\d+)"$/.exec(entry.response?.etag ?? '')?.[1];
  const lastUpdated = lastModified(entry);
  if (entry.request?.method !== 'DELETE' || !resourceType || !id || !versionId || !lastUpdated) {
    return undefined;
  }
  return {
    resourceType,
    id,
    versionId,
    document: { resourceType, id, meta: { versionId, lastUpdated }, deleted: true },
  };
}

function lastModified(entry: BundleEntry): string | undefined {
  return entry.response?.lastModified ?? (entry.resource as FhirResource)?.meta?.lastUpdated;
}
