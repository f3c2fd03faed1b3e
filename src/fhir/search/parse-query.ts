import type { OperationOutcomeIssue } from 'fhir/r4.js';
import { issue } from '../errors.js';
import type { ParamDef, ParamResolver } from './search-parameters.js';
import { Sql } from './sql.js';
import { filterSql } from './sql-filters.js';

/** One filter of a search; the values of one parameter are ORed, parameters ANDed. */
export type Filter =
  | {
      kind: 'param';
      resourceType: string;
      param: ParamDef;
      modifier: string | undefined;
      values: string[];
    }
  | { kind: 'missing'; resourceType: string; param: ParamDef; missing: boolean }
  | { kind: 'chain'; param: ParamDef; targets: ChainTarget[] }
  | {
      kind: 'has';
      sourceType: string;
      param: ParamDef;
      inner: Filter;
      /** Ids of the sources the caller may see, set by `resolveJoins`: used instead of `inner`. */
      visible?: string[];
    }
  | {
      /** The Patient and every resource in its compartment (`Patient/[id]/$everything`). */
      kind: 'compartment';
      patientId: string;
      /** Per member type, the parameters whose references to the Patient make a member. */
      members: ReadonlyArray<{ resourceType: string; params: readonly string[] }>;
    };

export interface ChainTarget {
  type: string;
  inner: Filter;
  /** Ids of the targets the caller may see, set by `resolveJoins`: used instead of `inner`. */
  visible?: string[];
}

export interface SortKey {
  code: string;
  param: ParamDef | undefined;
  descending: boolean;
}

export interface IncludeSpec {
  sourceType: string;
  /** undefined for `*` (every reference parameter). */
  param: string | undefined;
  targetType: string | undefined;
  iterate: boolean;
}

export interface SearchRequest {
  types: string[];
  filters: Filter[];
  sort: SortKey[];
  count: number;
  total: 'none' | 'accurate';
  summary: 'true' | 'false' | 'text' | 'data' | 'count' | undefined;
  elements: string[] | undefined;
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  cursor: string | undefined;
  /** Parameters ignored in lenient mode, reported in the Bundle. */
  ignored: OperationOutcomeIssue[];
  /** The query as understood, for self/next/previous links. */
  canonical: Array<[string, string]>;
}

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;
const RESULT_PARAMS = new Set([
  '_sort',
  '_count',
  '_include',
  '_revinclude',
  '_summary',
  '_elements',
  '_total',
  '_cursor',
  '_type',
]);
const FORMAT_PARAMS = new Set(['_format', '_pretty']);
const TYPE_MODIFIERS = /^[A-Z][A-Za-z]+$/;

export class QueryError extends Error {}

/**
 * Parses a FHIR search query. Malformed or unknown parameters throw when
 * `strict`; otherwise they are dropped and reported in `ignored`.
 */
/** A search of `types` with the defaults (no criteria, first page, accurate total), then `overrides`. */
export function searchRequest(
  types: string[],
  overrides: Partial<SearchRequest> = {},
): SearchRequest {
  return {
    types,
    filters: [],
    sort: [],
    count: DEFAULT_COUNT,
    total: 'accurate',
    summary: undefined,
    elements: undefined,
    include: [],
    revinclude: [],
    cursor: undefined,
    ignored: [],
    canonical: [],
    ...overrides,
  };
}

export function parseSearchQuery(
  types: string[],
  params: Array<[string, string]>,
  resolver: ParamResolver,
  strict: boolean,
): SearchRequest {
  const request = searchRequest(types);
  for (const [key, value] of params) {
    if (FORMAT_PARAMS.has(key)) continue;
    try {
      const include = /^_(rev)?include(:iterate|:recurse)?$/.exec(key);
      if (include)
        applyResultParam(request, key.split(':')[0]!, value, resolver, include[2] !== undefined);
      else if (RESULT_PARAMS.has(key)) applyResultParam(request, key, value, resolver, false);
      else {
        const filter = parseFilter(types, key, value, resolver);
        // Values are checked here (by building the filter's SQL once) so that a malformed
        // one is reported like an unknown parameter rather than failing the search later.
        filterSql(filter, 'r', new Sql(), resolver);
        request.filters.push(filter);
      }
      if (key !== '_cursor') request.canonical.push([key, value]);
    } catch (err) {
      if (!(err instanceof QueryError)) throw err;
      if (strict) throw err;
      request.ignored.push(
        issue('not-supported', `Ignored ${key}: ${err.message}`, key, 'warning'),
      );
    }
  }
  return request;
}

function applyResultParam(
  request: SearchRequest,
  key: string,
  value: string,
  resolver: ParamResolver,
  iterate: boolean,
): void {
  switch (key) {
    case '_type':
      return; // applied by the caller (system search)
    case '_count': {
      if (!/^\d+$/.test(value)) throw new QueryError('_count must be a non-negative integer');
      request.count = Math.min(Number(value), MAX_COUNT);
      return;
    }
    case '_total':
      if (value === 'none') request.total = 'none';
      else if (value === 'accurate' || value === 'estimate') request.total = 'accurate';
      else throw new QueryError('_total must be none, estimate or accurate');
      return;
    case '_summary':
      if (!['true', 'false', 'text', 'data', 'count'].includes(value)) {
        throw new QueryError('_summary must be true, false, text, data or count');
      }
      request.summary = value as SearchRequest['summary'];
      return;
    case '_elements':
      request.elements = value
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean);
      return;
    case '_cursor':
      request.cursor = value;
      return;
    case '_sort':
      for (const raw of value.split(',')) {
        const descending = raw.startsWith('-');
        const code = descending ? raw.slice(1) : raw;
        const param =
          code === '_id' || code === '_lastUpdated'
            ? undefined
            : sortParam(request.types, code, resolver);
        request.sort.push({ code, param, descending });
      }
      return;
    case '_include':
    case '_revinclude': {
      const spec = parseInclude(value, iterate, resolver);
      (key === '_include' ? request.include : request.revinclude).push(spec);
      return;
    }
  }
}

function sortParam(types: string[], code: string, resolver: ParamResolver): ParamDef {
  const param = types.length === 1 ? resolver.get(types[0]!, code) : undefined;
  if (!param || param.type === 'composite' || param.type === 'special') {
    throw new QueryError(`cannot sort by "${code}"`);
  }
  return param;
}

function parseInclude(value: string, iterate: boolean, resolver: ParamResolver): IncludeSpec {
  const [sourceType = '', param, targetType] = value.split(':');
  if (param === '*' || (param === undefined && sourceType === '*')) {
    return {
      sourceType: sourceType === '*' ? '*' : sourceType,
      param: undefined,
      targetType,
      iterate,
    };
  }
  const def = param ? resolver.get(sourceType, param) : undefined;
  if (def?.type !== 'reference')
    throw new QueryError(`"${value}" is not a reference parameter of ${sourceType || '?'}`);
  return { sourceType, param, targetType, iterate };
}

/** Parses one `key=value` filter: plain, modified, chained or reverse-chained (_has). */
export function parseFilter(
  types: string[],
  key: string,
  value: string,
  resolver: ParamResolver,
): Filter {
  if (value === '') throw new QueryError('empty value');
  if (types.length !== 1) {
    // Across types only the parameters every type shares (defined on Resource) apply.
    const filters = types.map((t) => parseFilter([t], key, value, resolver));
    return filters[0]!;
  }
  const type = types[0]!;
  if (key.startsWith('_has:')) {
    const [, sourceType = '', paramCode = '', ...rest] = key.split(':');
    const param = resolver.get(sourceType, paramCode);
    if (param?.type !== 'reference')
      throw new QueryError(`_has needs a reference parameter of ${sourceType}`);
    if (rest.length === 0) throw new QueryError('_has needs a parameter to match');
    return {
      kind: 'has',
      sourceType,
      param,
      inner: parseFilter([sourceType], rest.join(':'), value, resolver),
    };
  }
  const dot = key.indexOf('.');
  if (dot > 0) {
    const [code = '', typeModifier] = key.slice(0, dot).split(':');
    const param = resolver.get(type, code);
    if (param?.type !== 'reference')
      throw new QueryError(`"${code}" is not a reference parameter of ${type}`);
    const rest = key.slice(dot + 1);
    const candidates = typeModifier ? [typeModifier] : param.targets;
    const targets: ChainTarget[] = [];
    for (const target of candidates) {
      try {
        targets.push({ type: target, inner: parseFilter([target], rest, value, resolver) });
      } catch (err) {
        if (!(err instanceof QueryError) || typeModifier) throw err;
      }
    }
    if (targets.length === 0)
      throw new QueryError(`no target of ${code} has a parameter "${rest}"`);
    return { kind: 'chain', param, targets };
  }
  const [code = '', modifier] = key.split(':');
  const param = resolver.get(type, code);
  if (!param) throw new QueryError(`unknown search parameter "${code}" for ${type}`);
  if (modifier === 'missing') {
    if (value !== 'true' && value !== 'false') throw new QueryError(':missing takes true or false');
    return { kind: 'missing', resourceType: type, param, missing: value === 'true' };
  }
  checkModifier(param, modifier);
  return { kind: 'param', resourceType: type, param, modifier, values: splitOr(value) };
}

const MODIFIERS: Record<string, string[]> = {
  string: ['exact', 'contains'],
  token: ['not', 'text', 'of-type'],
  reference: ['identifier'],
  uri: ['below', 'above'],
  date: [],
  number: [],
  quantity: [],
  composite: [],
};

function checkModifier(param: ParamDef, modifier: string | undefined): void {
  if (modifier === undefined) return;
  if (param.type === 'reference' && TYPE_MODIFIERS.test(modifier)) return;
  if (!(MODIFIERS[param.type] ?? []).includes(modifier)) {
    throw new QueryError(
      `modifier :${modifier} is not supported on ${param.type} parameter "${param.code}"`,
    );
  }
}

/** Splits on commas not escaped with a backslash, and unescapes `\,` `\|` `\$` `\\`. */
export function splitOr(value: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) {
      current += `\\${value[++i]}`;
    } else if (c === ',') {
      out.push(current);
      current = '';
    } else current += c;
  }
  out.push(current);
  return out;
}

/** Splits on an unescaped separator and unescapes each part. */
export function splitEscaped(value: string, separator: '|' | '$'): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) current += value[++i];
    else if (c === separator) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

export function unescapeValue(value: string): string {
  return value.replace(/\\(.)/g, '$1');
}
