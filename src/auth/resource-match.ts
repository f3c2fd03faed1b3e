import type { Resource } from 'fhir/r4.js';
import { type IndexRows, indexRows } from '../fhir/search/index-rows.js';
import { normaliseString } from '../fhir/search/normalise.js';
import type { ParamResolver } from '../fhir/search/search-parameters.js';

/**
 * Evaluates a few search parameters on one resource in memory, with the same
 * extraction the search index uses, so that a check agrees with search and works
 * on any version (vread, history), not only the current one.
 */
export function rowsFor(
  resource: Resource,
  params: ParamResolver,
  codes: readonly string[],
): IndexRows {
  const wanted = codes.flatMap((c) => params.get(resource.resourceType, c) ?? []);
  const narrowed: ParamResolver = { ...params, all: () => wanted };
  return indexRows(resource, narrowed);
}

/**
 * Whether the resource matches `param=value` as a search would, for the parameter
 * types a granular scope uses (token, reference, string, uri). Other types never
 * match: a restriction the server cannot evaluate must not widen access.
 */
export function matchesParam(
  resource: Resource,
  params: ParamResolver,
  code: string,
  value: string,
): boolean {
  if (code === '_id') return resource.id === value;
  const def = params.get(resource.resourceType, code);
  if (!def) return false;
  const rows = rowsFor(resource, params, [code]);
  const alternatives = value.split(',');
  return alternatives.some((alt) => {
    switch (def.type) {
      case 'token':
        return rows.token.code.some((c, i) => tokenMatches(alt, rows.token.system[i] ?? null, c));
      case 'reference':
        return rows.reference.targetId.some((id, i) => {
          const [type, ref] = alt.includes('/') ? alt.split('/', 2) : [undefined, alt];
          return id === ref && (!type || rows.reference.targetType[i] === type);
        });
      case 'string':
        return rows.string.norm.some((n) => n.startsWith(normaliseString(alt)));
      case 'uri':
        return rows.uri.value.includes(alt);
      default:
        return false;
    }
  });
}

function tokenMatches(query: string, system: string | null, code: string): boolean {
  const bar = query.indexOf('|');
  if (bar < 0) return code === query;
  const [qs, qc] = [query.slice(0, bar), query.slice(bar + 1)];
  if (qs === '') return system === null && code === qc;
  if (qc === '') return system === qs;
  return system === qs && code === qc;
}
