import type pg from 'pg';
import { findMatches } from '../search/find-matches.js';
import type { Services } from './types.js';

export interface ConditionalQuery {
  /** Ids of current resources matching the query (at most two: enough to tell one from many). */
  find(client: pg.ClientBase): Promise<string[]>;
}

/** A conditional interaction's search query (`If-None-Exist`), evaluated by the search engine. */
export function parseConditionalQuery(
  query: string,
  type: string,
  services: Services,
): ConditionalQuery {
  return { find: (client) => findMatches(services, client, type, query) };
}
