import type pg from 'pg';
import { badRequest } from '../errors.js';
import type { Services } from '../interactions/types.js';
import { parseSearchQuery, QueryError } from './parse-query.js';
import { runSearch } from './run-search.js';

/**
 * Ids of live resources of `type` matching a search query string (the part after
 * `?`), as conditional create/update/delete need them. Returns at most two ids:
 * enough to tell none, one and many apart. Every parameter must be understood:
 * a criterion silently ignored would widen the match.
 */
export async function findMatches(
  services: Services,
  client: pg.ClientBase,
  type: string,
  query: string,
): Promise<string[]> {
  const pairs = [...new URLSearchParams(query.startsWith('?') ? query.slice(1) : query)];
  if (pairs.length === 0) throw badRequest('Conditional query has no criteria');
  try {
    const request = parseSearchQuery([type], pairs, services.params, true);
    if (request.filters.length === 0) throw badRequest('Conditional query has no criteria');
    const page = await runSearch(
      client,
      { ...request, count: 2, total: 'none', sort: [], cursor: undefined },
      services.params,
      undefined,
      { requestId: 'conditional' },
    );
    return page.matches.map((m) => m.resource.id!);
  } catch (err) {
    if (err instanceof QueryError) throw badRequest(`Conditional query: ${err.message}`);
    throw err;
  }
}
