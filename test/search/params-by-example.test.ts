import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { evalFhirPath } from '@medplum/core';
import type { FhirResource } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../src/fhir/definitions.js';
import { createParamResolver, type ParamDef } from '../../src/fhir/search/search-parameters.js';
import { type SearchApi, sorted, startSearchApi } from './search-helpers.js';

/**
 * Every search parameter of eight types, checked against the official R4 examples.
 *
 * The examples of each type are stored under their own ids. For each parameter
 * (from the R4 SearchParameter definitions, as the server reads them), the test
 * evaluates the parameter's FHIRPath on every example with @medplum/core (not the
 * server's index code), takes a value from the first example that has one, turns
 * it into a search value, and computes which examples should match with a small
 * matcher written here from the spec (token system|code, string starts-with with
 * folding, reference Type/id, date eq/lt by year, quantity with implicit precision,
 * uri exact). The server must return exactly those ids.
 *
 * Not checked here (tested by hand in the other files): composite parameters,
 * parameters no example gives a value, and value kinds listed in `skipReason`.
 */
const TYPES = [
  'Patient',
  'Observation',
  'Claim',
  'Encounter',
  'Organization',
  'Consent',
  'Provenance',
  'AuditEvent',
];

type Json = FhirResource & { id: string };
const folder = path.dirname(
  createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'),
);
const byType = new Map<string, Map<string, Json>>();
for (const file of readdirSync(folder)) {
  const type = file.split('-')[0]!;
  if (!file.endsWith('.json') || !TYPES.includes(type)) continue;
  const resource = JSON.parse(readFileSync(path.join(folder, file), 'utf8')) as Json;
  if (resource.resourceType !== type || !resource.id) continue;
  const examples = byType.get(type) ?? new Map<string, Json>();
  examples.set(resource.id, resource);
  byType.set(type, examples);
}

const resolver = createParamResolver(loadDefinitions());

// --- an independent matcher, per parameter type -------------------------------------------

type Value = Record<string, unknown> | string | number | boolean;
interface Probe {
  query: string;
  matches: (values: Value[]) => boolean;
}

const escapeSearchValue = (v: string) => v.replace(/[\\,|$]/g, (c) => `\\${c}`);
const fold = (v: string) =>
  v
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase();

function codings(v: Value): Array<{ system?: string; code?: string }> {
  if (typeof v !== 'object') return [{ code: String(v) }];
  if (Array.isArray(v.coding)) return v.coding as Array<{ system?: string; code?: string }>;
  if ('value' in v && typeof v.value === 'string') {
    return [{ system: v.system as string | undefined, code: v.value }]; // Identifier
  }
  return [{ system: v.system as string | undefined, code: v.code as string | undefined }];
}

const STRING_PARTS = ['text', 'family', 'given', 'prefix', 'suffix', 'line', 'city', 'district'];
const STRING_PARTS_2 = ['state', 'postalCode', 'country'];
function strings(v: Value): string[] {
  if (typeof v === 'string') return [v];
  if (typeof v !== 'object') return [];
  return [...STRING_PARTS, ...STRING_PARTS_2].flatMap((k) => {
    const part = v[k];
    return typeof part === 'string' ? [part] : Array.isArray(part) ? (part as string[]) : [];
  });
}

/** [low, high) of a date, dateTime, instant or Period in ms; undefined for other shapes. */
function range(v: Value): [number, number] | undefined {
  if (typeof v === 'string') {
    if (/^\d{4}$/.test(v)) return [Date.UTC(+v, 0, 1), Date.UTC(+v + 1, 0, 1)];
    if (/^\d{4}-\d{2}$/.test(v)) {
      const [y, m] = v.split('-').map(Number);
      return [Date.UTC(y!, m! - 1, 1), Date.UTC(y!, m!, 1)];
    }
    if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
      const t = Date.parse(`${v}T00:00:00Z`);
      return [t, t + 86_400_000];
    }
    const t = Date.parse(/(Z|[+-]\d\d:\d\d)$/.test(v) ? v : `${v}Z`);
    if (Number.isNaN(t)) return undefined;
    return [t, t + (v.includes('.') ? 1 : 1000)];
  }
  if (typeof v === 'object' && ('start' in v || 'end' in v)) {
    const start = typeof v.start === 'string' ? range(v.start) : undefined;
    const end = typeof v.end === 'string' ? range(v.end) : undefined;
    return [start?.[0] ?? -Infinity, end?.[1] ?? Infinity];
  }
  return undefined;
}

function referenceOf(v: Value): string | undefined {
  if (typeof v === 'string') return v; // canonical
  if (typeof v !== 'object' || typeof v.reference !== 'string' || v.reference.startsWith('#'))
    return undefined;
  // a version-specific reference is found by the resource's Type/id
  const m = /([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(\/_history\/[^/]+)?$/.exec(v.reference);
  return m ? m[1] : v.reference;
}

/** A search value taken from `v`, and the matcher it implies; undefined when `v` cannot probe. */
function probe(param: ParamDef, v: Value): Probe | undefined | string {
  switch (param.type) {
    case 'token': {
      const c = codings(v).find((x) => x.code);
      if (!c) return undefined;
      const query = c.system
        ? `${escapeSearchValue(c.system)}|${escapeSearchValue(c.code!)}`
        : escapeSearchValue(c.code!);
      return {
        query,
        matches: (vs) =>
          vs.some((x) =>
            codings(x).some((y) => y.code === c.code && (!c.system || y.system === c.system)),
          ),
      };
    }
    case 'string': {
      const text = strings(v).find((x) => x.trim() !== '');
      if (!text) return undefined;
      const prefix = fold(text.slice(0, 6));
      return {
        query: escapeSearchValue(text.slice(0, 6)),
        matches: (vs) => vs.some((x) => strings(x).some((y) => fold(y).startsWith(prefix))),
      };
    }
    case 'reference': {
      const ref = referenceOf(v);
      if (!ref) return undefined;
      return {
        query: escapeSearchValue(ref),
        matches: (vs) => vs.some((x) => referenceOf(x) === ref),
      };
    }
    case 'date': {
      const r = range(v);
      if (!r) return typeof v === 'object' ? 'a Timing or other non-date shape' : undefined;
      const year = new Date(Number.isFinite(r[0]) ? r[0] : r[1] - 1).getUTCFullYear();
      const lo = Date.UTC(year, 0, 1);
      const hi = Date.UTC(year + 1, 0, 1);
      const within = (rx: [number, number]) => rx[0] >= lo && rx[1] <= hi;
      // eq when the value lies within its year, else ge (reaches above the year, or within it)
      const eq = within(r);
      return {
        query: `${eq ? '' : 'ge'}${year}`,
        matches: (vs) =>
          vs.some((x) => {
            const rx = range(x);
            return !!rx && (within(rx) || (!eq && rx[1] > hi));
          }),
      };
    }
    case 'quantity': {
      if (typeof v !== 'object' || typeof v.value !== 'number') return undefined;
      const text = String(v.value);
      const decimals = text.includes('.') ? text.split('.')[1]!.length : 0;
      const half = 0.5 * 10 ** -decimals;
      const unit = (v.code ?? v.unit) as string | undefined;
      const system = v.system as string | undefined;
      return {
        query: `${text}|${system && v.code ? escapeSearchValue(system) : ''}|${unit ? escapeSearchValue(unit) : ''}`,
        matches: (vs) =>
          vs.some(
            (x) =>
              typeof x === 'object' &&
              typeof x.value === 'number' &&
              x.value >= (v.value as number) - half &&
              x.value < (v.value as number) + half &&
              (!unit ||
                (system && v.code
                  ? x.system === system && x.code === unit
                  : x.code === unit || x.unit === unit)),
          ),
      };
    }
    case 'uri':
      return typeof v === 'string'
        ? { query: escapeSearchValue(v), matches: (vs) => vs.includes(v) }
        : undefined;
    default:
      return `type ${param.type}`;
  }
}

// --- the test ---------------------------------------------------------------------------

let s: SearchApi;
beforeAll(async () => {
  s = await startSearchApi();
  for (const examples of byType.values()) await s.put(...examples.values());
});
afterAll(() => s?.server.close());

interface Case {
  type: string;
  code: string;
  query: string;
  expected: string[];
}
const cases: Case[] = [];
const unchecked: string[] = [];
for (const type of TYPES) {
  const examples = [...byType.get(type)!.values()];
  for (const param of resolver.all(type)) {
    if (param.code === '_lastUpdated') continue; // server-assigned; see dates.test.ts
    if (param.code === '_id') {
      cases.push({ type, code: '_id', query: examples[0]!.id, expected: [examples[0]!.id] });
      continue;
    }
    if (param.type === 'composite') {
      unchecked.push(`${type}.${param.code}: composite`);
      continue;
    }
    const valuesOf = (r: Json) => evalFhirPath(param.expression!, r) as Value[];
    let chosen: Probe | undefined;
    let reason = 'no example has a value';
    for (const r of examples) {
      for (const v of valuesOf(r)) {
        const p = probe(param, v);
        if (typeof p === 'string') reason = p;
        else if (p) chosen ??= p;
      }
      if (chosen) break;
    }
    if (!chosen) {
      unchecked.push(`${type}.${param.code}: ${reason}`);
      continue;
    }
    const found = chosen;
    const expected = examples.filter((r) => found.matches(valuesOf(r))).map((r) => r.id);
    cases.push({ type, code: param.code, query: chosen.query, expected: sorted(expected) });
  }
}

describe('every search parameter of eight types, against the official examples', () => {
  it('checks most parameters of each type', () => {
    for (const type of TYPES) {
      const checked = cases.filter((c) => c.type === type).length;
      expect(checked, type).toBeGreaterThanOrEqual(resolver.all(type).length / 2);
    }
    // Printed so that a reader sees what this file does not cover.
    console.info(`checked ${cases.length} parameters; not checked:\n  ${unchecked.join('\n  ')}`);
  });

  it.each(cases)('$type?$code=$query', async ({ type, code, query, expected }) => {
    expect(expected.length).toBeGreaterThan(0);
    // The server also writes resources of its own (a Provenance per write): only examples count.
    const only = [...byType.get(type)!.keys()].join(',');
    const found = await s.ids(
      `/${type}?${code}=${encodeURIComponent(query)}&_id=${only}&_count=1000`,
    );
    expect(found).toEqual(expected);
  });
});
