import { type Filter, QueryError } from './parse-query.js';

/** More visible join targets than this and the search is refused as too broad to check. */
export const MAX_JOIN_IDS = 10_000;

/** Ids of the live resources of `type` matching every filter that the caller may see. */
export type VisibleIds = (type: string, filters: Filter[]) => Promise<string[]>;

/**
 * Chained parameters and `_has` join other resources in SQL, where candidate filters (consent,
 * scopes) cannot see them: `Patient?_has:Observation:subject:code=X` would reveal that a
 * patient has an observation the caller may not read. When filters act, each join is
 * evaluated in two steps instead: the joined resources matching the inner criteria are loaded
 * and filtered like any candidate, and the outer search joins on the ids that remain.
 * Nested chains resolve from the inside out (each inner search resolves its own joins).
 */
export async function resolveJoins(filters: Filter[], visibleIds: VisibleIds): Promise<Filter[]> {
  const resolved: Filter[] = [];
  for (const filter of filters) {
    if (filter.kind === 'chain') {
      const targets = [];
      for (const target of filter.targets) {
        targets.push({ ...target, visible: await visibleIds(target.type, [target.inner]) });
      }
      resolved.push({ ...filter, targets });
    } else if (filter.kind === 'has') {
      resolved.push({ ...filter, visible: await visibleIds(filter.sourceType, [filter.inner]) });
    } else resolved.push(filter);
  }
  return resolved;
}

export function tooManyJoined(type: string): QueryError {
  return new QueryError(
    `a chained or _has criterion matches more than ${MAX_JOIN_IDS} ${type} resources; narrow it`,
  );
}
