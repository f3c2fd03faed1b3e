import type pg from 'pg';
import { parseConditionalQuery } from '../interactions/conditional-query.js';
import type { Services } from '../interactions/types.js';

/**
 * Ids of live resources of `type` matching a search query string (the part after
 * `?`), as conditional create/update/delete need them. Returns at most two ids:
 * enough to tell none, one and many apart.
 */
export async function findMatches(
  services: Services,
  client: pg.ClientBase,
  type: string,
  query: string,
): Promise<string[]> {
  return parseConditionalQuery(query, type, services).find(client);
}
