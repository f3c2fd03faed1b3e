import { getExpressionForResourceType } from '@medplum/core';
import type { SearchParameter } from 'fhir/r4.js';
import type { Definitions } from '../definitions.js';

export type ParamType = SearchParameter['type'];

/** A search parameter as this server evaluates it on one resource type. */
export interface ParamDef {
  code: string;
  type: ParamType;
  /** FHIRPath narrowed to this type; undefined for parameters answered from columns (_id, _lastUpdated). */
  expression: string | undefined;
  /** Resource types a reference parameter may point to. */
  targets: string[];
  /** Component definitions of a composite parameter (canonical URL + expression). */
  components: Array<{ definition: string; expression: string }>;
  url: string | undefined;
}

const COLUMN_PARAMS: Record<string, ParamType> = { _id: 'token', _lastUpdated: 'date' };
/** Parameters in the R4 list that need features we do not offer; refused clearly. */
const UNSUPPORTED = new Set(['_text', '_content', '_list', '_query', '_filter', '_has']);

export function createParamResolver(definitions: Definitions) {
  const cache = new Map<string, Map<string, ParamDef>>();
  const byUrl = new Map<string, SearchParameter>();
  for (const type of definitions.resourceTypes) {
    for (const sp of definitions.searchParameters(type).values()) if (sp.url) byUrl.set(sp.url, sp);
  }

  const paramsOf = (type: string): Map<string, ParamDef> => {
    let params = cache.get(type);
    if (params) return params;
    params = new Map();
    for (const [code, sp] of definitions.searchParameters(type)) {
      if (UNSUPPORTED.has(code)) continue;
      if (COLUMN_PARAMS[code]) {
        params.set(code, {
          code,
          type: COLUMN_PARAMS[code]!,
          expression: undefined,
          targets: [],
          components: [],
          url: sp.url,
        });
        continue;
      }
      if (!sp.expression) continue;
      // A composite's expression is its root (often just the type name); components carry the paths.
      // Parameters defined on Resource/DomainResource (_tag, _profile, _security, _source) are
      // written against the base type; narrow them to this type like every other expression.
      const own = sp.expression.replace(/^(Domain)?Resource\./, `${type}.`);
      const expression =
        sp.type === 'composite' ? sp.expression : getExpressionForResourceType(type, own);
      if (!expression) continue;
      params.set(code, {
        code,
        type: sp.type,
        expression,
        targets: sp.target ?? [],
        components: (sp.component ?? []).map((c) => ({
          definition: c.definition,
          expression: c.expression,
        })),
        url: sp.url,
      });
    }
    cache.set(type, params);
    return params;
  };

  return {
    /** Every indexed parameter of a type. */
    all: (type: string): ParamDef[] => [...paramsOf(type).values()],
    get: (type: string, code: string): ParamDef | undefined => paramsOf(type).get(code),
    /** The SearchParameter a composite component refers to. */
    byUrl: (url: string): SearchParameter | undefined => byUrl.get(url),
  };
}

export type ParamResolver = ReturnType<typeof createParamResolver>;
