import type { Bundle, BundleEntry, BundleLink, OperationOutcome, Resource } from 'fhir/r4.js';
import { badRequest } from '../errors.js';
import {
  activeFilters,
  type FhirHooks,
  keptByAll,
  masked,
  prepareCandidates,
  type RequestContext,
  runBeforeOperation,
} from '../hooks.js';
import { loadIncludes } from '../search/includes.js';
import { parseSearchQuery, QueryError, type SearchRequest } from '../search/parse-query.js';
import { type CandidateFilter, runSearch, type SearchPage } from '../search/run-search.js';
import { encodeCursor } from '../search/sql-sort.js';
import { subset } from '../search/summary.js';
import { requireType } from './common.js';
import type { FhirRequest, FhirResponse, Handler, Services } from './types.js';

/** GET [type]?... and POST [type]/_search */
export const searchType: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(
    services.hooks,
    { interaction: 'search-type', resourceType: type },
    req.ctx,
  );
  return search(req, services, [type], `${req.baseUrl}/${type}`);
};

/** GET [base]?_type=...&... and POST [base]/_search: across resource types. */
export const searchSystem: Handler = async (req, services) => {
  await runBeforeOperation(services.hooks, { interaction: 'search-system' }, req.ctx);
  const typeParam = queryPairs(req)
    .filter(([k]) => k === '_type')
    .flatMap(([, v]) => v.split(','));
  for (const t of typeParam) {
    if (!services.definitions.isResourceType(t))
      throw badRequest(`Unknown resource type "${t}" in _type`, '_type');
  }
  const types = typeParam.length > 0 ? typeParam : [...services.definitions.resourceTypes];
  return search(req, services, types, req.baseUrl);
};

/** The query as ordered pairs: the URL's, plus a form-encoded POST body for _search. */
export function queryPairs(req: FhirRequest): Array<[string, string]> {
  const pairs = [...new URLSearchParams(req.url.split('?')[1] ?? '')];
  if (typeof req.body === 'string') pairs.push(...new URLSearchParams(req.body));
  return pairs;
}

async function search(
  req: FhirRequest,
  services: Services,
  types: string[],
  selfBase: string,
): Promise<FhirResponse> {
  const strict = /handling=strict/i.test(req.header('prefer') ?? '');
  let request: SearchRequest;
  try {
    request = parseSearchQuery(types, queryPairs(req), services.params, strict);
  } catch (err) {
    if (err instanceof QueryError) throw badRequest(err.message);
    throw err;
  }
  const filter = candidateFilter(services.hooks, req.ctx);
  let page: Awaited<ReturnType<typeof runSearch>>;
  try {
    page = await runSearch(services.db.pool, request, services.params, filter, req.ctx);
  } catch (err) {
    if (err instanceof QueryError) throw badRequest(err.message);
    throw err;
  }
  const mask = (r: Resource) => masked(services.hooks, r, req.ctx);
  const prepare = (resources: Resource[]) => prepareCandidates(services.hooks, resources, req.ctx);
  // Filtered candidates were prepared batch by batch; unfiltered ones are prepared here.
  if (!filter) await prepare(page.matches.map((m) => m.resource));
  const matches = await Promise.all(page.matches.map((m) => mask(m.resource)));
  const included = await loadIncludes(
    services.db.pool,
    page.matches.map((m) => m.resource),
    request.include,
    request.revinclude,
    async (r) => (filter && !(await filter(r, req.ctx)) ? undefined : mask(r)),
    prepare,
  );

  const entry: BundleEntry[] = [
    ...matches.map((r) => ({
      fullUrl: `${req.baseUrl}/${r.resourceType}/${r.id}`,
      resource: subset(r, request.summary, request.elements),
      search: { mode: 'match' as const },
    })),
    ...included.map((r) => ({
      fullUrl: `${req.baseUrl}/${r.resourceType}/${r.id}`,
      resource: subset(r, request.summary, request.elements),
      search: { mode: 'include' as const },
    })),
  ];
  if (request.ignored.length > 0) {
    const outcome: OperationOutcome = { resourceType: 'OperationOutcome', issue: request.ignored };
    entry.push({ resource: outcome, search: { mode: 'outcome' } });
  }
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(page.total !== undefined ? { total: page.total } : {}),
    link: pagingLinks(page, request, selfBase),
    entry: request.summary === 'count' ? undefined : entry,
  };
  return { status: 200, resource: bundle };
}

/**
 * self, next and previous links of a searchset page: the query as understood plus a keyset
 * `_cursor` after the page's last row (or before its first), so later pages stay exact while
 * data changes.
 */
export function pagingLinks(
  page: SearchPage,
  request: Pick<SearchRequest, 'canonical' | 'cursor'>,
  selfBase: string,
): BundleLink[] {
  const link = (cursor?: string) => {
    const params = new URLSearchParams(request.canonical);
    if (cursor) params.set('_cursor', cursor);
    const query = params.toString();
    return query ? `${selfBase}?${query}` : selfBase;
  };
  const first = page.matches[0];
  const last = page.matches[page.matches.length - 1];
  const backwards = page.cursor?.before ?? false;
  const hasNext = backwards ? true : page.more;
  const hasPrevious = backwards ? page.more : page.cursor !== undefined;
  return [
    { relation: 'self', url: link(request.cursor) },
    ...(hasNext && last
      ? [
          {
            relation: 'next',
            url: link(
              encodeCursor({ values: last.sortValues, id: last.resource.id!, before: false }),
            ),
          },
        ]
      : []),
    ...(hasPrevious && first
      ? [
          {
            relation: 'previous',
            url: link(
              encodeCursor({ values: first.sortValues, id: first.resource.id!, before: true }),
            ),
          },
        ]
      : []),
  ];
}

/** The active candidate filters of the request as one (undefined when none acts). */
export function candidateFilter(
  hooks: FhirHooks,
  ctx: RequestContext,
): CandidateFilter | undefined {
  const listeners = activeFilters(hooks, ctx);
  if (listeners.length === 0) return undefined;
  const filter: CandidateFilter = (resource, ctx) => keptByAll(listeners, resource, ctx);
  filter.prepare = (resources, ctx) => prepareCandidates(hooks, resources, ctx);
  return filter;
}
