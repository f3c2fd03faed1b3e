import type { Bundle, BundleEntry } from 'fhir/r4.js';
import { badRequest, notFound } from '../errors.js';
import { activeFilters, type InteractionName, present, runBeforeOperation } from '../hooks.js';
import { loadHistory } from '../storage/history-query.js';
import { requireType, single } from './common.js';
import type { FhirRequest, Handler, Services } from './types.js';

const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const SUPPORTED = new Set(['_count', '_since', '_cursor', '_format', '_pretty']);

/** GET [type]/[id]/_history */
export const historyInstance: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(
    services.hooks,
    { interaction: 'history-instance', resourceType: type, id: req.id },
    req.ctx,
  );
  if (!(await services.store.current(type, req.id!))) throw notFound(`${type}/${req.id} not found`);
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

  const page = await loadHistory(services.db, {
    resourceType,
    id,
    since,
    beforeSeq: cursor,
    limit: count,
  });
  const entries: BundleEntry[] = [];
  for (const v of page.versions) {
    const fullUrl = `${req.baseUrl}/${v.resourceType}/${v.id}`;
    if (!v.resource) {
      // A deletion shows only to whoever may see what was deleted (its previous version).
      if (activeFilters(services.hooks, req.ctx).length > 0) {
        const previous = await services.store.version(v.resourceType, v.id, v.versionId - 1);
        if (!previous?.resource || !(await present(services.hooks, previous.resource, req.ctx)))
          continue;
      }
      entries.push({
        fullUrl,
        request: { method: 'DELETE', url: `${v.resourceType}/${v.id}` },
        response: {
          status: '204 No Content',
          etag: `W/"${v.versionId}"`,
          lastModified: v.lastUpdated,
        },
      });
      continue;
    }
    const resource = await present(services.hooks, v.resource, req.ctx);
    if (!resource) continue;
    const created = v.method === 'POST' || v.versionId === 1;
    entries.push({
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
    });
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
    ...(activeFilters(services.hooks, req.ctx).length === 0 ? { total: page.total } : {}),
    link: [
      { relation: 'self', url: link(cursor ? { _cursor: cursor } : {}) },
      { relation: 'first', url: link({}) },
      ...(page.nextSeq ? [{ relation: 'next', url: link({ _cursor: page.nextSeq }) }] : []),
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
