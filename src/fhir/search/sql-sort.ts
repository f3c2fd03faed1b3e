import { badRequest } from '../errors.js';
import type { SortKey } from './parse-query.js';
import type { Sql } from './sql.js';

/** The sort expression of a key on the row aliased `r`; multi-valued parameters sort by their lowest (or highest, descending) value. */
export function sortExpression(
  key: SortKey,
  r: string,
  sql: Sql,
  rType = `${r}.resource_type`,
): string {
  if (key.code === '_id') return `${r}.id`;
  // Not a `_sort` value clients can give: operations over several types (`$everything`) order
  // by type first, so that the keyset stays exact when two types share an id.
  if (key.code === '_type') return `${r}.resource_type`;
  if (key.code === '_lastUpdated') return `${r}.last_updated`;
  const param = key.param!;
  const agg = key.descending ? 'max' : 'min';
  const sub = (table: string, column: string) =>
    `(SELECT ${agg}(${column}) FROM ${table} s WHERE s.resource_type = ${rType} AND s.id = ${r}.id AND s.param = ${sql.p(param.code)})`;
  switch (param.type) {
    case 'string':
      return sub('string_index', 's.norm');
    case 'token':
      return sub('token_index', 's.code');
    case 'date':
      return sub('date_index', key.descending ? 's.high' : 's.low');
    case 'number':
      return sub('number_index', 's.value');
    case 'quantity':
      return sub('quantity_index', 's.value');
    case 'reference':
      return sub('reference_index', "coalesce(s.target_type || '/' || s.target_id, s.url)");
    case 'uri':
      return sub('uri_index', 's.value');
    default:
      throw badRequest(`Cannot sort by ${param.code}`);
  }
}

/** Position of a row in the result order: its sort values and id. */
export interface Cursor {
  values: Array<string | number | null>;
  id: string;
  /** Page before (true) or after (false) the row. */
  before: boolean;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.values, cursor.id, cursor.before ? 1 : 0])).toString(
    'base64url',
  );
}

export function decodeCursor(text: string, keys: number): Cursor {
  try {
    const [values, id, before] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as [
      Cursor['values'],
      string,
      number,
    ];
    if (!Array.isArray(values) || values.length !== keys || typeof id !== 'string')
      throw new Error();
    return { values, id, before: before === 1 };
  } catch {
    throw badRequest(
      'Invalid _cursor (links are only valid for the search that made them)',
      '_cursor',
    );
  }
}

/**
 * ORDER BY and the keyset condition for rows after (or, reversed, before) a
 * cursor. Nulls sort last in the requested order; the id breaks ties, so pages
 * neither repeat nor skip rows that existed when paging began.
 */
export function orderAndKeyset(
  keys: SortKey[],
  exprs: string[],
  r: string,
  cursor: Cursor | undefined,
  sql: Sql,
): { orderBy: string; keyset: string } {
  const reverse = cursor?.before ?? false;
  const order = keys.map((k, i) => {
    const descending = k.descending !== reverse;
    return `${exprs[i]} ${descending ? 'DESC' : 'ASC'} NULLS ${reverse ? 'FIRST' : 'LAST'}`;
  });
  order.push(`${r}.id ${reverse ? 'DESC' : 'ASC'}`);
  if (!cursor) return { orderBy: order.join(', '), keyset: 'true' };

  // Lexicographic "comes after the cursor" over (key1, ..., id).
  const terms: string[] = [];
  const equalSoFar: string[] = [];
  keys.forEach((k, i) => {
    const e = exprs[i]!;
    const v = cursor.values[i];
    const descending = k.descending !== reverse;
    const op = descending ? '<' : '>';
    let after: string;
    if (reverse)
      after = v === null ? `${e} IS NOT NULL` : `(${e} IS NOT NULL AND ${e} ${op} ${sql.p(v)})`;
    else after = v === null ? 'false' : `(${e} IS NULL OR ${e} ${op} ${sql.p(v)})`;
    terms.push([...equalSoFar, after].join(' AND '));
    equalSoFar.push(v === null ? `${e} IS NULL` : `${e} = ${sql.p(v)}`);
  });
  terms.push([...equalSoFar, `${r}.id ${reverse ? '<' : '>'} ${sql.p(cursor.id)}`].join(' AND '));
  return { orderBy: order.join(', '), keyset: `((${terms.join(') OR (')}))` };
}
