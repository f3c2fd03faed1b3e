import type { Observation } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { loadDefinitions } from '../definitions.js';
import { indexRows } from './index-rows.js';
import { createParamResolver } from './search-parameters.js';

const params = createParamResolver(loadDefinitions());

describe('indexRows', () => {
  it('writes a repeated value once, and keeps values that only look alike', () => {
    const observation: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: {
        coding: [
          { system: 'http://loinc.org', code: '8867-4' },
          { system: 'http://loinc.org', code: '8867-4' },
          { code: '8867-4' },
          { system: 'null', code: '8867-4' },
        ],
      },
      category: [
        { coding: [{ system: 'http://example.org/c', code: 'vital' }] },
        { coding: [{ system: 'http://example.org/c', code: 'vital' }] },
      ],
    };
    const { token } = indexRows(observation, params);
    const rows = token.param.map((p, n) => `${p}|${token.system[n]}|${token.code[n]}`);
    expect(rows.filter((r) => r.startsWith('code|')).sort()).toEqual([
      'code|http://loinc.org|8867-4',
      'code|null|8867-4',
      'code|null|8867-4',
    ]);
    // The two 'null' rows above are a missing system and the system "null": distinct.
    expect(token.system.filter((s, n) => token.param[n] === 'code' && s === null)).toHaveLength(1);
    expect(rows.filter((r) => r.startsWith('category|'))).toEqual([
      'category|http://example.org/c|vital',
    ]);
  });

  it('writes each row once however many the resource has', () => {
    const coding = Array.from({ length: 60 }, (_, n) => ({
      system: n % 2 ? 'http://loinc.org' : undefined,
      code: String(n % 20),
    }));
    const observation: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding },
    };
    const { token } = indexRows(observation, params);
    const rows = token.param.map((p, n) => `${p}|${token.system[n]}|${token.code[n]}`);
    const codes = rows.filter((r) => r.startsWith('code|'));
    // Coding n and n + 20 have the same system and code.
    expect(codes).toHaveLength(20);
    expect(new Set(codes).size).toBe(20);
  });
});
