import type { Resource } from 'fhir/r4.js';
import type pg from 'pg';
import type { MaybePromise, RequestContext } from '../hooks.js';
import { withLeadingKeys } from '../storage/resource-store.js';
import type { SearchRequest, SortKey } from './parse-query.js';
import { MAX_JOIN_IDS, resolveJoins, tooManyJoined } from './resolve-joins.js';
import type { ParamResolver } from './search-parameters.js';
import { Sql } from './sql.js';
import { filterSql } from './sql-filters.js';
import { type Cursor, decodeCursor, orderAndKeyset, sortExpression } from './sql-sort.js';

export interface Match {
  resource: Resource;
  sortValues: Array<string | number | null>;
}

export interface SearchPage {
  matches: Match[];
  /** Whether rows exist after the page (or before it, for a backwards page). */
  more: boolean;
  cursor: Cursor | undefined;
  total: number | undefined;
}

/** Decides per candidate whether the caller may see it (consent); applied before paging and totals. */
export interface CandidateFilter {
  (resource: Resource, ctx: RequestContext): MaybePromise<boolean>;
  /** Loads what the decisions need for a batch of candidates at once (see `prepareCandidates`). */
  prepare?(resources: Resource[], ctx: RequestContext): Promise<void>;
}

/** Counting stops here when candidates must be checked one by one; the total is then omitted. */
const MAX_FILTERED_TOTAL = 10_000;
/** Candidates per query when a filter decides each (first page and total in one pass). */
const FILTERED_BATCH = 500;

interface Query {
  text: string;
  values: unknown[];
  sortCount: number;
}

/** WHERE clause of the search on `resource_current r`. */
function whereClause(
  request: SearchRequest,
  sql: Sql,
  resolver: ParamResolver,
  rType: string,
): string {
  const types =
    request.types.length === 1
      ? `r.resource_type = ${rType}`
      : `r.resource_type = ANY(${sql.p(request.types)}::text[])`;
  const conditions = [types, 'NOT r.deleted'];
  for (const filter of request.filters)
    conditions.push(filterSql(filter, 'r', sql, resolver, rType));
  return conditions.join('\n  AND ');
}

/** The searched type as a constant when there is one, so the planner can use value indexes. */
function rowType(request: SearchRequest, sql: Sql): string {
  return request.types.length === 1 ? sql.p(request.types[0]) : 'r.resource_type';
}

const BY_TYPE: SortKey = { code: '_type', param: undefined, descending: false };

/**
 * The keys a search is ordered and paged by (the id breaks the last tie): `_sort`'s, and over
 * several types the type before the id, since two types can share an id: a keyset on the id
 * alone would skip or repeat one of them at a page boundary. A single type pages as sorted.
 */
export function orderKeys(request: Pick<SearchRequest, 'types' | 'sort'>): SortKey[] {
  if (request.types.length < 2 || request.sort.some((k) => k.code === '_type')) return request.sort;
  return [...request.sort, BY_TYPE];
}

function pageQuery(
  request: SearchRequest,
  resolver: ParamResolver,
  cursor: Cursor | undefined,
  limit: number,
): Query {
  const sql = new Sql();
  const rType = rowType(request, sql);
  const where = whereClause(request, sql, resolver, rType);
  const keys = orderKeys(request);
  const exprs = keys.map((k) => sortExpression(k, 'r', sql, rType));
  const { orderBy, keyset } = orderAndKeyset(keys, exprs, 'r', cursor, sql);
  const select = exprs.map((e, i) => `, ${e} AS s${i}`).join('');
  return {
    text: `SELECT r.content${select}, r.id FROM resource_current r WHERE ${where} AND ${keyset} ORDER BY ${orderBy} LIMIT ${limit}`,
    values: sql.values,
    sortCount: exprs.length,
  };
}

/**
 * Runs a search: one page in the requested order, starting after (or before) the
 * cursor. Candidates the filter rejects are dropped before the page is cut and
 * are not counted, so a hidden resource leaves no trace in the page or total.
 */
export async function runSearch(
  client: pg.Pool | pg.ClientBase,
  request: SearchRequest,
  resolver: ParamResolver,
  filter: CandidateFilter | undefined,
  ctx: RequestContext,
): Promise<SearchPage> {
  if (filter && request.filters.some((f) => f.kind === 'chain' || f.kind === 'has')) {
    const visibleIds = async (type: string, filters: SearchRequest['filters']) => {
      const inner = { ...request, types: [type], filters, sort: [], cursor: undefined };
      const page = await runSearch(
        client,
        { ...inner, count: MAX_JOIN_IDS, total: 'none', summary: undefined },
        resolver,
        filter,
        ctx,
      );
      if (page.more) throw tooManyJoined(type);
      return page.matches.map((m) => m.resource.id!);
    };
    request = { ...request, filters: await resolveJoins(request.filters, visibleIds) };
  }
  const cursor = request.cursor
    ? decodeCursor(request.cursor, orderKeys(request).length)
    : undefined;
  if (filter && !cursor && request.total !== 'none') {
    return firstPageAndTotal(client, request, resolver, filter, ctx);
  }
  const wanted = pageSize(request);
  const matches: Match[] = [];
  let position = cursor;
  let exhausted = false;
  // Fetch in batches until the page (plus one to know if more follow) is filled.
  while (matches.length <= wanted && !exhausted) {
    const batch = Math.max(wanted + 1 - matches.length, filter ? 50 : 1);
    const rows = await candidates(
      client,
      pageQuery(request, resolver, position, batch),
      filter,
      ctx,
    );
    exhausted = rows.length < batch;
    for (const { id, resource, sortValues } of rows) {
      position = { values: sortValues, id, before: cursor?.before ?? false };
      // Waits only on an answer that is a promise: a known answer costs no microtask.
      const kept = filter ? filter(resource, ctx) : true;
      if (kept !== true && !(kept instanceof Promise && (await kept) === true)) continue;
      matches.push({ resource, sortValues });
      if (matches.length > wanted) break;
    }
  }
  const more = matches.length > wanted;
  const page = matches.slice(0, wanted);
  if (cursor?.before) page.reverse();
  // A first page that holds every match is its own total: no count query (most searches of
  // one patient's data; run alongside the page, the count cost them ~2 ms on a loaded server).
  const complete = !cursor && !more;
  return {
    matches: page,
    more,
    cursor,
    total:
      request.total === 'none'
        ? undefined
        : complete
          ? page.length
          : await countMatches(client, request, resolver, filter, ctx),
  };
}

/** Rows on the page: none for `_summary=count`. */
function pageSize(request: SearchRequest): number {
  return request.summary === 'count' ? 0 : request.count;
}

/** One batch of candidates in the page's order, prepared for the filter's decisions. */
async function candidates(
  client: pg.Pool | pg.ClientBase,
  query: Query,
  filter: CandidateFilter | undefined,
  ctx: RequestContext,
): Promise<Array<Match & { id: string }>> {
  const { rows } = await client.query(query.text, query.values);
  const batch = rows.map((row) => ({
    id: row.id as string,
    resource: withLeadingKeys(row.content as Resource),
    sortValues: Array.from({ length: query.sortCount }, (_, i) => row[`s${i}`] ?? null),
  }));
  if (filter?.prepare && batch.length > 0)
    await filter.prepare(
      batch.map((c) => c.resource),
      ctx,
    );
  return batch;
}

/**
 * The first page of a filtered search with its total, in one pass over the candidates (in the
 * page's order): each candidate is read and decided once, where a page pass and a count pass
 * read the page's candidates twice.
 */
async function firstPageAndTotal(
  client: pg.Pool | pg.ClientBase,
  request: SearchRequest,
  resolver: ParamResolver,
  filter: CandidateFilter,
  ctx: RequestContext,
): Promise<SearchPage> {
  const wanted = pageSize(request);
  const matches: Match[] = [];
  let visible = 0;
  let position: Cursor | undefined;
  for (;;) {
    const query = pageQuery(request, resolver, position, FILTERED_BATCH);
    const rows = await candidates(client, query, filter, ctx);
    for (const { id, resource, sortValues } of rows) {
      position = { values: sortValues, id, before: false };
      const kept = filter(resource, ctx);
      if (kept !== true && !(kept instanceof Promise && (await kept) === true)) continue;
      visible++;
      if (matches.length <= wanted) matches.push({ resource, sortValues });
    }
    const tooMany = visible > MAX_FILTERED_TOTAL;
    if (rows.length < FILTERED_BATCH || (tooMany && matches.length > wanted)) {
      return {
        matches: matches.slice(0, wanted),
        more: matches.length > wanted,
        cursor: undefined,
        total: tooMany ? undefined : visible,
      };
    }
  }
}

async function countMatches(
  client: pg.Pool | pg.ClientBase,
  request: SearchRequest,
  resolver: ParamResolver,
  filter: CandidateFilter | undefined,
  ctx: RequestContext,
): Promise<number | undefined> {
  if (!filter) {
    const sql = new Sql();
    const where = whereClause(request, sql, resolver, rowType(request, sql));
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM resource_current r WHERE ${where}`,
      sql.values,
    );
    return Number(rows[0]?.n ?? 0);
  }
  let counted = 0;
  let position: Cursor | undefined;
  const unsorted = { ...request, sort: [], cursor: undefined };
  for (;;) {
    const query = pageQuery(unsorted, resolver, position, FILTERED_BATCH);
    const rows = await candidates(client, query, filter, ctx);
    for (const { resource } of rows) {
      if (await filter(resource, ctx)) counted++;
      if (counted > MAX_FILTERED_TOTAL) return undefined;
    }
    if (rows.length < FILTERED_BATCH) return counted;
    const last = rows[rows.length - 1]!;
    position = { values: last.sortValues, id: last.id, before: false };
  }
}
