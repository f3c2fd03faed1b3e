import { evalFhirPath, getExpressionForResourceType } from '@medplum/core';
import type { Resource, SearchParameter } from 'fhir/r4.js';
import type pg from 'pg';
import type { Definitions } from '../definitions.js';

export interface Token {
  system: string | undefined;
  code: string;
}

/** One `param=value` of a token search: `code`, `system|code`, `|code` or `system|`. */
export interface TokenCriterion {
  param: string;
  /** undefined: any system; null: no system (`|code`). */
  system: string | null | undefined;
  /** undefined: any code (`system|`). */
  code: string | undefined;
}

/** Index rows of one resource, column by column (written with unnest in one statement). */
export interface TokenRows {
  params: string[];
  systems: (string | null)[];
  codes: string[];
}

export interface TokenIndexer {
  rows(resourceType: string, resource: Resource): TokenRows;
  isTokenParam(resourceType: string, param: string): boolean;
  /** Ids (at most two) of live resources of the type matching every criterion and, if given, one of `ids`. */
  find(
    client: pg.ClientBase | pg.Pool,
    resourceType: string,
    criteria: TokenCriterion[],
    ids?: string[],
  ): Promise<string[]>;
}

export function createTokenIndexer(definitions: Definitions): TokenIndexer {
  const expressions = new Map<string, Array<[string, string]>>();
  const tokenParams = (type: string): Array<[string, string]> => {
    let list = expressions.get(type);
    if (!list) {
      list = [];
      for (const [code, sp] of definitions.searchParameters(type)) {
        const expression = tokenExpression(type, sp);
        if (expression) list.push([code, expression]);
      }
      expressions.set(type, list);
    }
    return list;
  };

  return {
    rows(resourceType, resource) {
      const rows: TokenRows = { params: [], systems: [], codes: [] };
      for (const [param, expression] of tokenParams(resourceType)) {
        for (const token of extractTokens(evalFhirPath(expression, resource))) {
          rows.params.push(param);
          rows.systems.push(token.system ?? null);
          rows.codes.push(token.code);
        }
      }
      return rows;
    },

    isTokenParam: (type, param) => tokenParams(type).some(([code]) => code === param),

    async find(client, resourceType, criteria, ids) {
      const values: unknown[] = [resourceType];
      const idClause = ids ? `AND r.id = ANY($${values.push(ids)}::text[])` : '';
      const clauses = criteria.map((c) => {
        const conditions = [`t.param = $${values.push(c.param)}`];
        if (c.code !== undefined) conditions.push(`t.code = $${values.push(c.code)}`);
        if (c.system === null) conditions.push('t.system IS NULL');
        else if (c.system !== undefined) conditions.push(`t.system = $${values.push(c.system)}`);
        return `EXISTS (SELECT 1 FROM token_index t WHERE t.resource_type = r.resource_type
                  AND t.id = r.id AND ${conditions.join(' AND ')})`;
      });
      const { rows } = await client.query<{ id: string }>(
        `SELECT r.id FROM resource_current r
          WHERE r.resource_type = $1 AND NOT r.deleted ${idClause} ${clauses.map((c) => `AND ${c}`).join(' ')}
          LIMIT 2`,
        values,
      );
      return rows.map((r) => r.id);
    },
  };
}

function tokenExpression(resourceType: string, sp: SearchParameter): string | undefined {
  if (sp.type !== 'token' || !sp.expression || sp.code === '_id') return undefined;
  return getExpressionForResourceType(resourceType, sp.expression);
}

/** Tokens of the FHIRPath results: codes, Codings, CodeableConcepts, Identifiers, ContactPoints. */
export function extractTokens(values: unknown[]): Token[] {
  const tokens: Token[] = [];
  for (const v of values) {
    if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') {
      tokens.push({ system: undefined, code: String(v) });
    } else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (Array.isArray(o.coding)) tokens.push(...extractTokens(o.coding));
      const code = o.code ?? o.value;
      if (typeof code === 'string' || typeof code === 'boolean') {
        tokens.push({
          system: typeof o.system === 'string' ? o.system : undefined,
          code: String(code),
        });
      }
    }
  }
  return tokens;
}
