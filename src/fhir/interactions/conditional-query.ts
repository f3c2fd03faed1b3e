import type pg from 'pg';
import { badRequest } from '../errors.js';
import type { TokenCriterion } from '../storage/token-index.js';
import type { Services } from './types.js';

export interface ConditionalQuery {
  /** Ids of current resources matching the query (at most two: enough to tell one from many). */
  find(client: pg.ClientBase): Promise<string[]>;
}

/**
 * Parses the search query of a conditional interaction (`If-None-Exist`).
 * Supported: `_id` and every token search parameter of the type
 * (`identifier=system|value`, `code`, `|code`, `system|`). Anything else is a 400
 * rather than a silently broader match.
 */
export function parseConditionalQuery(
  query: string,
  type: string,
  services: Services,
): ConditionalQuery {
  const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
  const criteria: TokenCriterion[] = [];
  const ids: string[] = [];
  for (const [name, value] of params) {
    if (value === '') throw badRequest(`Empty value for "${name}" in conditional query`);
    if (value.includes(','))
      throw badRequest(`OR values are not supported in conditional queries ("${name}")`);
    if (name === '_id') ids.push(value);
    else if (services.tokens.isTokenParam(type, name)) criteria.push(parseToken(name, value));
    else {
      throw badRequest(
        `Conditional queries support _id and token search parameters of ${type}; "${name}" is not one`,
      );
    }
  }
  if (ids.length === 0 && criteria.length === 0)
    throw badRequest('Conditional query has no criteria');
  return {
    find: (client) =>
      services.tokens.find(client, type, criteria, ids.length > 0 ? ids : undefined),
  };
}

function parseToken(param: string, value: string): TokenCriterion {
  const bar = value.indexOf('|');
  if (bar < 0) return { param, system: undefined, code: value };
  const system = value.slice(0, bar);
  const code = value.slice(bar + 1);
  if (system === '' && code === '')
    throw badRequest(`Token "${param}" has neither system nor code`);
  return { param, system: system === '' ? null : system, code: code === '' ? undefined : code };
}
