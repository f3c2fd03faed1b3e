import { badRequest } from '../errors.js';
import { dateRange, decimalRange, escapeLike, normaliseString, type Range } from './normalise.js';
import { type Filter, QueryError, splitEscaped, unescapeValue } from './parse-query.js';
import type { ParamDef, ParamResolver } from './search-parameters.js';
import type { Sql } from './sql.js';

const INDEX_TABLE: Record<string, string> = {
  token: 'token_index',
  string: 'string_index',
  date: 'date_index',
  number: 'number_index',
  quantity: 'quantity_index',
  reference: 'reference_index',
  uri: 'uri_index',
};

const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
type Prefix = (typeof PREFIXES)[number];

/**
 * SQL condition (on the resource_current row aliased `r`) for one filter.
 * Every condition is an EXISTS over an index table probed by (type, id, param),
 * so PostgreSQL can drive from whichever index is most selective. `rType` is the
 * row's type as SQL: a constant when known, which lets the planner start from the
 * value indexes (0.2 ms instead of 50 ms for a name search over 10k patients).
 */
export function filterSql(
  filter: Filter,
  r: string,
  sql: Sql,
  resolver: ParamResolver,
  rType = `${r}.resource_type`,
): string {
  switch (filter.kind) {
    case 'missing': {
      if (filter.param.code === '_id' || filter.param.code === '_lastUpdated')
        return filter.missing ? 'false' : 'true';
      const probe = (table: string, code: string) => {
        const x = sql.alias('m');
        return `EXISTS (SELECT 1 FROM ${table} ${x} WHERE ${x}.resource_type = ${rType} AND ${x}.id = ${r}.id AND ${x}.param = ${sql.p(code)})`;
      };
      // A CodeableConcept with only text, or a reference with only an identifier, is present
      // although it has no row in the parameter's own table.
      const code = filter.param.code;
      const present = [probe(tableOf(filter.param), code)];
      if (filter.param.type === 'token') present.push(probe('string_index', `${code}:text`));
      if (filter.param.type === 'reference')
        present.push(probe('token_index', `${code}:identifier`));
      const exists = `(${present.join(' OR ')})`;
      return filter.missing ? `NOT ${exists}` : exists;
    }
    case 'chain': {
      const x = sql.alias('c');
      const parts = filter.targets.map(({ type, inner, visible }) => {
        const tType = sql.p(type);
        if (visible) {
          return `(${x}.target_type = ${tType} AND ${x}.target_id = ANY(${sql.p(visible)}::text[]))`;
        }
        const t = sql.alias('t');
        return `(${x}.target_type = ${tType} AND EXISTS (SELECT 1 FROM resource_current ${t}
          WHERE ${t}.resource_type = ${tType} AND ${t}.id = ${x}.target_id AND NOT ${t}.deleted
            AND ${filterSql(inner, t, sql, resolver, tType)}))`;
      });
      return `EXISTS (SELECT 1 FROM reference_index ${x} WHERE ${x}.resource_type = ${rType}
        AND ${x}.id = ${r}.id AND ${x}.param = ${sql.p(filter.param.code)} AND (${parts.join(' OR ')}))`;
    }
    case 'has': {
      const x = sql.alias('h');
      const sType = sql.p(filter.sourceType);
      if (filter.visible) {
        return `EXISTS (SELECT 1 FROM reference_index ${x}
          WHERE ${x}.target_type = ${rType} AND ${x}.target_id = ${r}.id
            AND ${x}.resource_type = ${sType} AND ${x}.param = ${sql.p(filter.param.code)}
            AND ${x}.id = ANY(${sql.p(filter.visible)}::text[]))`;
      }
      const s = sql.alias('s');
      return `EXISTS (SELECT 1 FROM reference_index ${x} JOIN resource_current ${s}
          ON ${s}.resource_type = ${sType} AND ${s}.id = ${x}.id AND NOT ${s}.deleted
        WHERE ${x}.target_type = ${rType} AND ${x}.target_id = ${r}.id
          AND ${x}.resource_type = ${sType} AND ${x}.param = ${sql.p(filter.param.code)}
          AND ${filterSql(filter.inner, s, sql, resolver, sType)})`;
    }
    case 'param':
      return paramSql(filter, r, sql, resolver, rType);
    case 'compartment': {
      // Driven from the references to the Patient (reference_index_target), as one semi-join,
      // so the planner probes resource_current by key instead of scanning the member types.
      const x = sql.alias('k');
      const pairs = filter.members.flatMap((m) => m.params.map((p) => [m.resourceType, p]));
      const id = sql.p(filter.patientId);
      return `(${r}.resource_type, ${r}.id) IN (
        SELECT ${x}.resource_type, ${x}.id FROM reference_index ${x}
         WHERE ${x}.target_type = 'Patient' AND ${x}.target_id = ${id}
           AND (${x}.resource_type, ${x}.param) IN (SELECT * FROM unnest(${sql.p(pairs.map((p) => p[0]))}::text[], ${sql.p(pairs.map((p) => p[1]))}::text[]))
        UNION ALL SELECT 'Patient'::text, ${id}::text)`;
    }
  }
}

function tableOf(param: ParamDef): string {
  const table = INDEX_TABLE[param.type];
  if (!table) throw new QueryError(`parameters of type ${param.type} are not searchable`);
  return table;
}

function paramSql(
  filter: Extract<Filter, { kind: 'param' }>,
  r: string,
  sql: Sql,
  resolver: ParamResolver,
  rType: string,
): string {
  const { param, modifier, values } = filter;
  if (param.code === '_id') {
    if (modifier && modifier !== 'not') throw new QueryError(`_id does not take :${modifier}`);
    const ids = values.map(unescapeValue);
    return `${modifier ? 'NOT ' : ''}${r}.id = ANY(${sql.p(ids)}::text[])`;
  }
  if (param.code === '_lastUpdated') {
    const conds = values.map((v) =>
      dateCondition(v, `${r}.last_updated`, `(${r}.last_updated + interval '1 millisecond')`, sql),
    );
    return `(${conds.join(' OR ')})`;
  }
  if (param.type === 'composite') return compositeSql(filter, r, sql, resolver, rType);

  // :text and :identifier live in other index tables under a derived parameter name.
  let table = tableOf(param);
  let code = param.code;
  if (param.type === 'token' && modifier === 'text') {
    table = 'string_index';
    code = `${param.code}:text`;
  } else if (param.type === 'token' && modifier === 'of-type') {
    code = `${param.code}:of-type`;
  } else if (param.type === 'reference' && modifier === 'identifier') {
    table = 'token_index';
    code = `${param.code}:identifier`;
  }
  const x = sql.alias('x');
  const conds = values.map((v) => valueCondition(param, modifier, v, x, sql));
  const exists = `EXISTS (SELECT 1 FROM ${table} ${x} WHERE ${x}.resource_type = ${rType}
    AND ${x}.id = ${r}.id AND ${x}.param = ${sql.p(code)} AND (${conds.join(' OR ')}))`;
  return param.type === 'token' && modifier === 'not' ? `NOT ${exists}` : exists;
}

function valueCondition(
  param: ParamDef,
  modifier: string | undefined,
  raw: string,
  x: string,
  sql: Sql,
): string {
  switch (param.type) {
    case 'string': {
      const v = unescapeValue(raw);
      if (modifier === 'exact') return `${x}.value = ${sql.p(v)}`;
      const norm = escapeLike(normaliseString(v));
      return `${x}.norm LIKE ${sql.p(modifier === 'contains' ? `%${norm}%` : `${norm}%`)}`;
    }
    case 'token':
      return modifier === 'text'
        ? `${x}.norm LIKE ${sql.p(`${escapeLike(normaliseString(unescapeValue(raw)))}%`)}`
        : modifier === 'of-type'
          ? ofTypeCondition(raw, x, sql)
          : tokenCondition(raw, x, sql);
    case 'reference':
      return modifier === 'identifier'
        ? tokenCondition(raw, x, sql)
        : referenceCondition(param, modifier, raw, x, sql);
    case 'date':
      return dateCondition(raw, `${x}.low`, `${x}.high`, sql);
    case 'number':
      return numberCondition(raw, `${x}.value`, sql);
    case 'quantity':
      return quantityCondition(raw, x, sql);
    case 'uri': {
      const v = unescapeValue(raw);
      // By path segment: http://a/fhir is above http://a/fhir/ValueSet/1, not http://a/fhir-x.
      if (modifier === 'below') {
        const under = v.endsWith('/') ? v : `${v}/`;
        return `(${x}.value = ${sql.p(v)} OR ${x}.value LIKE ${sql.p(`${escapeLike(under)}%`)})`;
      }
      if (modifier === 'above') return `${x}.value = ANY(${sql.p(uriAncestors(v))}::text[])`;
      return `${x}.value = ${sql.p(v)}`;
    }
    default:
      throw new QueryError(`parameters of type ${param.type} are not searchable`);
  }
}

/** A URI and each of its parent paths (with and without the trailing slash), down to the host. */
function uriAncestors(uri: string): string[] {
  const root = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(uri)?.[0].length ?? 0;
  const out = [uri];
  for (let i = uri.lastIndexOf('/'); i >= root && i > 0; i = uri.lastIndexOf('/', i - 1)) {
    out.push(uri.slice(0, i + 1), uri.slice(0, i));
  }
  return out;
}

export function tokenCondition(raw: string, x: string, sql: Sql): string {
  const parts = splitEscaped(raw, '|');
  if (parts.length === 1) return `${x}.code = ${sql.p(parts[0])}`;
  const [system = '', code = ''] = parts;
  if (parts.length > 2) throw new QueryError(`"${raw}" has more than one |`);
  if (system === '' && code === '') throw new QueryError('a token needs a system or a code');
  if (system === '') return `(${x}.code = ${sql.p(code)} AND ${x}.system IS NULL)`;
  if (code === '') return `${x}.system = ${sql.p(system)}`;
  return `(${x}.code = ${sql.p(code)} AND ${x}.system = ${sql.p(system)})`;
}

function ofTypeCondition(raw: string, x: string, sql: Sql): string {
  const parts = splitEscaped(raw, '|');
  if (parts.length !== 3 || !parts[1] || !parts[2])
    throw new QueryError(':of-type takes system|code|value');
  return `(${x}.system = ${sql.p(`${parts[0]}|${parts[1]}`)} AND ${x}.code = ${sql.p(parts[2])})`;
}

function referenceCondition(
  param: ParamDef,
  typeModifier: string | undefined,
  raw: string,
  x: string,
  sql: Sql,
): string {
  const v = unescapeValue(raw);
  if (/^[A-Za-z0-9\-.]{1,64}$/.test(v)) {
    const type = typeModifier ?? (param.targets.length === 1 ? param.targets[0] : undefined);
    return type
      ? `(${x}.target_id = ${sql.p(v)} AND ${x}.target_type = ${sql.p(type)})`
      : `${x}.target_id = ${sql.p(v)}`;
  }
  const m = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(v);
  if (m && (!typeModifier || typeModifier === m[1])) {
    const local = `(${x}.target_id = ${sql.p(m[2])} AND ${x}.target_type = ${sql.p(m[1])})`;
    return v.includes('://') ? `(${local} OR ${x}.url = ${sql.p(v)})` : local;
  }
  // canonical references (with an optional |version) and other URLs
  return `${x}.url = ${sql.p(v.split('|')[0])}`;
}

function prefixOf(raw: string): [Prefix, string] {
  const p = raw.slice(0, 2) as Prefix;
  return PREFIXES.includes(p) && /^[a-z]{2}[-+0-9.]/.test(raw) ? [p, raw.slice(2)] : ['eq', raw];
}

/**
 * Range semantics of R4 date search: the search value covers [vl, vh) at its
 * precision, the resource value [rl, rh); eq = contained, gt/lt = the range
 * above/below overlaps, ge/le = either, sa/eb = strictly after/before, ap =
 * overlap with the search range widened by 10% of its distance from now.
 */
export function dateCondition(raw: string, low: string, high: string, sql: Sql): string {
  const [prefix, written] = prefixOf(raw);
  // An unencoded "+" of a time zone arrives as a space after form decoding.
  const text = written.replace(/ (\d{2}:\d{2})$/, '+$1');
  const range = dateRange(text);
  if (!range) throw new QueryError(`"${raw}" is not a date`);
  // Placeholders are made only when used: PostgreSQL cannot type an unused one.
  const vl = () => `${sql.p(new Date(range.low).toISOString())}::timestamptz`;
  const vh = () => `${sql.p(new Date(range.high).toISOString())}::timestamptz`;
  const contained = () => `(${low} >= ${vl()} AND ${high} <= ${vh()})`;
  switch (prefix) {
    case 'eq':
      return contained();
    case 'ne':
      return `NOT ${contained()}`;
    case 'gt':
      return `${high} > ${vh()}`;
    case 'lt':
      return `${low} < ${vl()}`;
    case 'ge':
      return `(${high} > ${vh()} OR ${contained()})`;
    case 'le':
      return `(${low} < ${vl()} OR ${contained()})`;
    case 'sa':
      return `${low} >= ${vh()}`;
    case 'eb':
      return `${high} <= ${vl()}`;
    case 'ap': {
      const widened = widen(range);
      return `(${low} < ${sql.p(new Date(widened.high).toISOString())} AND ${high} > ${sql.p(new Date(widened.low).toISOString())})`;
    }
  }
}

function widen(range: Range): Range {
  const gap = Math.max(Math.abs(Date.now() - range.low) * 0.1, 24 * 3600 * 1000);
  return { low: range.low - gap, high: range.high + gap };
}

/** Number and quantity values: eq/ne use the precision of the search value; the rest compare exactly. */
export function numberCondition(raw: string, column: string, sql: Sql): string {
  const [prefix, text] = prefixOf(raw);
  const d = decimalRange(text);
  if (!d) throw new QueryError(`"${raw}" is not a number`);
  switch (prefix) {
    case 'eq':
      return `(${column} >= ${sql.p(d.low)} AND ${column} < ${sql.p(d.high)})`;
    case 'ne':
      return `NOT (${column} >= ${sql.p(d.low)} AND ${column} < ${sql.p(d.high)})`;
    case 'gt':
    case 'sa':
      return `${column} > ${sql.p(d.value)}`;
    case 'lt':
    case 'eb':
      return `${column} < ${sql.p(d.value)}`;
    case 'ge':
      return `${column} >= ${sql.p(d.value)}`;
    case 'le':
      return `${column} <= ${sql.p(d.value)}`;
    case 'ap': {
      const delta = Math.abs(d.value) * 0.1;
      return `(${column} >= ${sql.p(d.value - delta)} AND ${column} <= ${sql.p(d.value + delta)})`;
    }
  }
}

function quantityCondition(raw: string, x: string, sql: Sql): string {
  const [number = '', system, code] = splitEscaped(raw, '|');
  const conds = [numberCondition(number, `${x}.value`, sql)];
  if (code) conds.push(`${x}.code = ${sql.p(code)}`);
  if (system) conds.push(`${x}.system = ${sql.p(system)}`);
  if (system !== undefined && code === undefined)
    throw new QueryError('a quantity is number|system|code');
  return `(${conds.join(' AND ')})`;
}

/**
 * A composite value `a$b` matches when each component matches; components are
 * checked through its own index. Components are not tied to one repeating element
 * (component-code-value-quantity can over-match an Observation whose components
 * match separately); root-level composites such as code-value-quantity are exact.
 */
function compositeSql(
  filter: Extract<Filter, { kind: 'param' }>,
  r: string,
  sql: Sql,
  resolver: ParamResolver,
  rType: string,
): string {
  const components = filter.param.components.map((c) => {
    const sp = resolver.byUrl(c.definition);
    const def = sp && resolver.get(filter.resourceType, sp.code);
    if (!def) throw badRequest(`Composite ${filter.param.code} refers to an unknown parameter`);
    return def;
  });
  const alternatives = filter.values.map((value) => {
    const parts = splitEscaped(value, '$');
    if (parts.length !== components.length)
      throw new QueryError(`${filter.param.code} takes ${components.length} values joined by $`);
    return components
      .map((def, i) =>
        paramSql(
          {
            kind: 'param',
            resourceType: filter.resourceType,
            param: def,
            modifier: undefined,
            values: [parts[i]!],
          },
          r,
          sql,
          resolver,
          rType,
        ),
      )
      .join(' AND ');
  });
  return `((${alternatives.join(') OR (')}))`;
}
