import {
  evalFhirPathTyped,
  type FhirPathAtom,
  parseFhirPath,
  type TypedValue,
  toTypedValue,
  tryGetDataType,
} from '@medplum/core';
import type { Resource } from 'fhir/r4.js';
import { compilePath, type PathAccessor } from './compile-path.js';
import { dateRange, normaliseString } from './normalise.js';
import { parseReference, relativeReferences } from './references.js';
import type { ParamDef, ParamResolver } from './search-parameters.js';

interface CompiledExpression {
  atom: FhirPathAtom;
  /** Undefined when the expression has a shape compilePath does not read. */
  accessor: PathAccessor | undefined;
}

// Parsing FHIRPath costs more than evaluating it; every expression is parsed once per process.
const compiledExpressions = new Map<string, CompiledExpression>();
function compiled(expression: string): CompiledExpression {
  let entry = compiledExpressions.get(expression);
  if (!entry) {
    const atom = parseFhirPath(expression);
    entry = { atom, accessor: compilePath(atom) };
    compiledExpressions.set(expression, entry);
  }
  return entry;
}

/**
 * How expressions are evaluated: `compiled` reads the JSON directly where compilePath can
 * and uses the FHIRPath engine elsewhere; `engine` always uses the engine (the reference the
 * compiled accessors are tested against).
 */
export type Evaluation = 'compiled' | 'engine';

/**
 * Rows of every search index table for one resource version, column by column so
 * that one statement can insert them with unnest(). Token rows also carry
 * `:identifier` rows of references; string rows carry `:text` rows of tokens.
 */
export interface IndexRows {
  token: { param: string[]; system: (string | null)[]; code: string[] };
  string: { param: string[]; value: string[]; norm: string[] };
  date: { param: string[]; low: string[]; high: string[] };
  number: { param: string[]; value: number[] };
  quantity: {
    param: string[];
    system: (string | null)[];
    code: (string | null)[];
    value: number[];
  };
  reference: {
    param: string[];
    targetType: (string | null)[];
    targetId: (string | null)[];
    url: (string | null)[];
  };
  uri: { param: string[]; value: string[] };
}

export function emptyRows(): IndexRows {
  return {
    token: { param: [], system: [], code: [] },
    string: { param: [], value: [], norm: [] },
    date: { param: [], low: [], high: [] },
    number: { param: [], value: [] },
    quantity: { param: [], system: [], code: [], value: [] },
    reference: { param: [], targetType: [], targetId: [], url: [] },
    uri: { param: [], value: [] },
  };
}

export function indexRows(
  resource: Resource,
  params: ParamResolver,
  evaluation: Evaluation = 'compiled',
): IndexRows {
  const rows = emptyRows();
  const typed = [toTypedValue(resource)];
  let resolvable: TypedValue[] | undefined;
  for (const param of params.all(resource.resourceType)) {
    if (!param.expression || param.type === 'composite' || param.type === 'special') continue;
    const { atom, accessor } = compiled(param.expression);
    let values = evaluation === 'compiled' ? accessor?.(typed[0]!) : undefined;
    if (!values) {
      try {
        // The engine's resolve() reads the type from a relative reference only, so
        // `subject.where(resolve() is Patient)` sees absolute references as relative ones.
        const uses = param.expression.includes('resolve()');
        if (uses) resolvable ??= [toTypedValue(relativeReferences(resource))];
        values = evalFhirPathTyped(atom, uses ? resolvable! : typed);
      } catch {
        continue; // a few official expressions use functions the engine lacks; those params stay unindexed
      }
    }
    for (const v of values) addValue(rows, param, v);
  }
  return withoutDuplicates(rows);
}

/**
 * Each row once: a repeated value (the same entity type on every AuditEvent entity, a code
 * in several codings) matches nothing more, and every row costs index inserts.
 */
function withoutDuplicates(rows: IndexRows): IndexRows {
  for (const columns of Object.values(rows) as Array<Record<string, unknown[]>>) {
    const count = columns.param!.length;
    if (count < 2) continue;
    const names = Object.keys(columns);
    const all = names.map((name) => columns[name]!);
    const keep = distinctRows(all, count);
    if (keep.length === count) continue;
    for (const name of names) columns[name] = keep.map((n) => columns[name]![n]);
  }
  return rows;
}

/** Numbers of the rows whose values differ from every earlier row's in some column. */
function distinctRows(columns: unknown[][], count: number): number[] {
  const seen = new Set<string>();
  const keep: number[] = [];
  for (let n = 0; n < count; n++) {
    let key = '';
    for (const values of columns) {
      const value = values[n];
      key += value === null ? '\u0001\u0000' : `${typeof value}:${value}\u0000`;
    }
    if (seen.has(key)) continue;
    seen.add(key);
    keep.push(n);
  }
  return keep;
}

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

function addValue(rows: IndexRows, param: ParamDef, { type, value }: TypedValue): void {
  if (value === undefined || value === null) return;
  const code = param.code;
  switch (param.type) {
    case 'token':
      addToken(rows, code, type, value);
      return;
    case 'string':
      for (const s of stringParts(type, value)) addString(rows, code, s);
      return;
    case 'date': {
      const range = dateValueRange(value);
      if (range) {
        rows.date.param.push(code);
        rows.date.low.push(range[0]);
        rows.date.high.push(range[1]);
      }
      return;
    }
    case 'number': {
      const n = typeof value === 'number' ? value : undefined;
      if (n !== undefined) {
        rows.number.param.push(code);
        rows.number.value.push(n);
      }
      return;
    }
    case 'quantity': {
      const q = value as { value?: number; system?: string; code?: string; unit?: string };
      if (typeof q.value !== 'number') return;
      rows.quantity.param.push(code);
      rows.quantity.system.push(str(q.system) ?? null);
      rows.quantity.code.push(str(q.code) ?? str(q.unit) ?? null);
      rows.quantity.value.push(q.value);
      if (q.unit && q.code && q.unit !== q.code) {
        rows.quantity.param.push(code);
        rows.quantity.system.push(null);
        rows.quantity.code.push(q.unit);
        rows.quantity.value.push(q.value);
      }
      return;
    }
    case 'reference':
      addReference(rows, code, value);
      return;
    case 'uri':
      if (typeof value === 'string') {
        rows.uri.param.push(code);
        rows.uri.value.push(value);
      }
      return;
  }
}

function addToken(rows: IndexRows, param: string, type: string, value: unknown): void {
  const push = (system: string | undefined, code: string) => {
    rows.token.param.push(param);
    rows.token.system.push(system ?? null);
    rows.token.code.push(code);
  };
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number') {
    push(undefined, String(value));
    return;
  }
  const o = value as Record<string, unknown>;
  if (type === 'CodeableConcept') {
    for (const c of (o.coding as Array<Record<string, unknown>>) ?? [])
      addToken(rows, param, 'Coding', c);
    if (str(o.text)) addString(rows, `${param}:text`, o.text as string);
    return;
  }
  if (type === 'Identifier') {
    const id = str(o.value);
    if (id) push(str(o.system), id);
    const idType = o.type as
      | { text?: string; coding?: Array<{ system?: string; code?: string }> }
      | undefined;
    if (str(idType?.text)) addString(rows, `${param}:text`, idType!.text!);
    // :of-type matches system|code of the identifier's type plus its value.
    for (const c of idType?.coding ?? []) {
      if (!c.code || !id) continue;
      rows.token.param.push(`${param}:of-type`);
      rows.token.system.push(`${c.system ?? ''}|${c.code}`);
      rows.token.code.push(id);
    }
    return;
  }
  if (type === 'ContactPoint') {
    if (str(o.value)) push(str(o.system), o.value as string);
    return;
  }
  // Coding and anything else shaped like one
  const code = str(o.code) ?? (typeof o.value === 'string' ? o.value : undefined);
  if (code) push(str(o.system), code);
  if (str(o.display)) addString(rows, `${param}:text`, o.display as string);
}

function addString(rows: IndexRows, param: string, value: string): void {
  rows.string.param.push(param);
  rows.string.value.push(value);
  rows.string.norm.push(normaliseString(value));
}

/**
 * The searchable strings of a value: itself, or the string-typed parts of a
 * HumanName/Address/etc. (family, line, city...; not codes such as `use` and `type`).
 */
function stringParts(type: string, value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (!value || typeof value !== 'object') return [];
  const elements = tryGetDataType(type)?.elements ?? {};
  const out: string[] = [];
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    const codes = elements[name]?.type.map((t) => t.code) ?? ['string'];
    if (name === 'id' || !codes.some((c) => c === 'string' || c === 'markdown')) continue;
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) for (const item of v) if (typeof item === 'string') out.push(item);
  }
  return out.filter((s) => s.trim() !== '');
}

function dateValueRange(value: unknown): [string, string] | undefined {
  if (typeof value === 'string') {
    const r = dateRange(value);
    return r && [new Date(r.low).toISOString(), new Date(r.high).toISOString()];
  }
  const o = value as {
    start?: string;
    end?: string;
    event?: string[];
    repeat?: { boundsPeriod?: { start?: string; end?: string } };
  };
  if (o.start !== undefined || o.end !== undefined) {
    const start = o.start ? dateRange(o.start) : undefined;
    const end = o.end ? dateRange(o.end) : undefined;
    if ((o.start && !start) || (o.end && !end)) return undefined;
    return [
      start ? new Date(start.low).toISOString() : '-infinity',
      end ? new Date(end.high).toISOString() : 'infinity',
    ];
  }
  const events = (o.event ?? []).map(dateRange).filter((r) => r !== undefined);
  if (events.length) {
    return [
      new Date(Math.min(...events.map((e) => e.low))).toISOString(),
      new Date(Math.max(...events.map((e) => e.high))).toISOString(),
    ];
  }
  if (o.repeat?.boundsPeriod) return dateValueRange(o.repeat.boundsPeriod);
  return undefined;
}

function addReference(rows: IndexRows, param: string, value: unknown): void {
  const push = (targetType: string | null, targetId: string | null, url: string | null) => {
    rows.reference.param.push(param);
    rows.reference.targetType.push(targetType);
    rows.reference.targetId.push(targetId);
    rows.reference.url.push(url);
  };
  if (typeof value === 'string') {
    // canonical or uri targets
    push(null, null, value);
    return;
  }
  const ref = value as { reference?: string; identifier?: { system?: string; value?: string } };
  if (ref.identifier?.value) {
    rows.token.param.push(`${param}:identifier`);
    rows.token.system.push(ref.identifier.system ?? null);
    rows.token.code.push(ref.identifier.value);
  }
  const reference = ref.reference;
  if (!reference || reference.startsWith('#')) return;
  const parsed = parseReference(reference);
  push(
    parsed?.type ?? null,
    parsed?.id ?? null,
    parsed && !reference.includes('://') ? null : reference,
  );
}
