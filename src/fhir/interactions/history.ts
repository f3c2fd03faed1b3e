import type { Bundle, BundleEntry, Resource } from 'fhir/r4.js';
import { badRequest, notFound } from '../errors.js';
import {
  activeFilters,
  type InteractionName,
  prepareCandidates,
  present,
  runBeforeOperation,
} from '../hooks.js';
import { loadHistory } from '../storage/history-query.js';
import type { VersionRow } from '../storage/resource-store.js';
import { requireType, single } from './common.js';
import type { FhirRequest, Handler, Services } from './types.js';

const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;
/** An instant with a time zone, as `_since` takes. */
export const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const SUPPORTED = new Set(['_count', '_since', '_cursor', '_format', '_pretty']);

/** GET [type]/[id]/_history */
export const historyInstance: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(
    services.hooks,
    { interaction: 'history-instance', resourceType: type, id: req.id },
    req.ctx,
  );
  const current = await services.store.current(type, req.id!);
  const missing = notFound(`${type}/${req.id} not found`);
  if (!current) throw missing;
  // A resource the caller may not see has no history either: the same 404 as a read, so an
  // empty history does not confirm that it exists. A deleted one is judged by its last content.
  if (activeFilters(services.hooks, req.ctx).length > 0) {
    const shown =
      current.resource ?? (await lastContent(services, type, req.id!, current.versionId));
    if (!shown || !(await present(services.hooks, shown, req.ctx))) throw missing;
  }
  return history(req, services, 'history-instance', type, req.id);
};

/** GET [type]/_history */
export const historyType: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(
    services.hooks,
    { interaction: 'history-type', resourceType: type },
    req.ctx,
  );
  return history(req, services, 'history-type', type, undefined);
};

/** GET /_history */
export const historySystem: Handler = async (req, services) => {
  await runBeforeOperation(services.hooks, { interaction: 'history-system' }, req.ctx);
  return history(req, services, 'history-system', undefined, undefined);
};

async function history(
  req: FhirRequest,
  services: Services,
  _interaction: InteractionName,
  resourceType: string | undefined,
  id: string | undefined,
) {
  for (const name of Object.keys(req.query)) {
    if (!SUPPORTED.has(name)) throw badRequest(`History does not support the parameter "${name}"`);
  }
  const count = parseCount(single(req.query._count));
  const since = single(req.query._since);
  if (since !== undefined && !INSTANT.test(since)) {
    throw badRequest(
      '_since must be an instant with a time zone, e.g. 2024-01-31T10:00:00Z',
      '_since',
    );
  }
  const cursor = single(req.query._cursor);
  if (cursor !== undefined && !/^\d{1,18}$/.test(cursor))
    throw badRequest('Invalid _cursor', '_cursor');

  const filtered = activeFilters(services.hooks, req.ctx).length > 0;
  const entries: BundleEntry[] = [];
  let total: number | undefined;
  let position = cursor;
  let lastShown: string | undefined;
  let more = false;
  // Hidden versions are skipped; pages are filled from further rows so that neither a short
  // page nor a `next` link over hidden versions shows that they exist.
  pages: for (;;) {
    const page = await loadHistory(services.db, {
      resourceType,
      id,
      since,
      beforeSeq: position,
      limit: filtered ? Math.max(count + 1, 50) : count + 1,
    });
    total ??= page.total;
    const contents = page.versions.flatMap((v) => (v.resource ? [v.resource] : []));
    await prepareCandidates(services.hooks, contents, req.ctx);
    for (const v of page.versions) {
      const entry = await historyEntry(services, req, v);
      if (!entry) continue;
      if (entries.length === count) {
        more = true;
        break pages;
      }
      entries.push(entry);
      lastShown = v.seq;
    }
    if (!page.nextSeq) break;
    position = page.nextSeq;
  }
  const path = req.url.split('?')[0];
  const link = (extra: Record<string, string>) => {
    const params = new URLSearchParams({
      _count: String(count),
      ...(since ? { _since: since } : {}),
      ...extra,
    });
    return `${req.baseUrl}${path}?${params}`;
  };
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'history',
    // A hidden version must not be counted either; without a filter the count is exact.
    ...(!filtered && total !== undefined ? { total } : {}),
    link: [
      { relation: 'self', url: link(cursor ? { _cursor: cursor } : {}) },
      { relation: 'first', url: link({}) },
      ...(more && lastShown ? [{ relation: 'next', url: link({ _cursor: lastShown }) }] : []),
    ],
    entry: entries,
  };
  return { status: 200, resource: bundle };
}

function parseCount(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_COUNT;
  if (!/^\d+$/.test(raw)) throw badRequest('_count must be a non-negative integer', '_count');
  return Math.min(Math.max(Number(raw), 1), MAX_COUNT);
}

/** One version as a history entry; undefined when the caller may not see it. */
async function historyEntry(
  services: Services,
  req: FhirRequest,
  v: VersionRow,
): Promise<BundleEntry | undefined> {
  const fullUrl = `${req.baseUrl}/${v.resourceType}/${v.id}`;
  if (!v.resource) {
    // A deletion shows only to whoever may see what was deleted (its previous version).
    if (activeFilters(services.hooks, req.ctx).length > 0) {
      const previous = await lastContent(services, v.resourceType, v.id, v.versionId);
      if (!previous || !(await present(services.hooks, previous, req.ctx))) return undefined;
    }
    return {
      fullUrl,
      request: { method: 'DELETE', url: `${v.resourceType}/${v.id}` },
      response: {
        status: '204 No Content',
        etag: `W/"${v.versionId}"`,
        lastModified: v.lastUpdated,
      },
    };
  }
  const resource = await present(services.hooks, v.resource, req.ctx);
  if (!resource) return undefined;
  const created = v.method === 'POST' || v.versionId === 1;
  return {
    fullUrl,
    resource,
    request: {
      method: v.method === 'PATCH' ? 'PATCH' : created ? 'POST' : 'PUT',
      url: created && v.method === 'POST' ? v.resourceType : `${v.resourceType}/${v.id}`,
    },
    response: {
      status: created ? '201 Created' : '200 OK',
      etag: `W/"${v.versionId}"`,
      lastModified: v.lastUpdated,
    },
  };
}

/** The newest content before `versionId` (what a deletion deleted). */
export async function lastContent(
  services: Services,
  type: string,
  id: string,
  versionId: number,
): Promise<Resource | undefined> {
  for (let v = versionId - 1; v >= 1; v--) {
    const version = await services.store.version(type, id, v);
    if (version?.resource) return version.resource;
  }
  return undefined;
}
