import { describe, expect, it } from 'vitest';
import { grantScopes, parseScope } from './scopes.js';

const isType = (t: string) => ['Observation', 'Patient', 'Claim', 'Encounter'].includes(t);
const perms = (s: string) => [...(parseScope(s, isType)?.permissions ?? [])].sort().join('');

describe('parseScope', () => {
  it('reads SMART v1 scopes', () => {
    expect(perms('patient/Observation.read')).toBe('rs');
    expect(perms('user/*.*')).toBe('cdrsu');
    expect(perms('system/*.write')).toBe('cdu');
    expect(parseScope('user/*.*', isType)?.resourceType).toBe('*');
  });

  it('reads SMART v2 scopes and granular queries', () => {
    expect(perms('patient/Observation.rs')).toBe('rs');
    expect(perms('user/Claim.cruds')).toBe('cdrsu');
    expect(perms('system/*.r')).toBe('r');
    const granular = parseScope('patient/Observation.rs?category=laboratory', isType);
    expect(granular?.query).toEqual([['category', 'laboratory']]);
    expect(
      parseScope(
        'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs',
        isType,
      )?.query,
    ).toEqual([
      ['category', 'http://terminology.hl7.org/CodeSystem/observation-category|vital-signs'],
    ]);
  });

  it('ignores what is not a valid resource scope', () => {
    for (const s of [
      'openid',
      'fhirUser',
      'launch/patient',
      'patient/Observation.sr', // v2 letters out of order
      'patient/Observation.rr',
      'patient/Unknown.rs',
      'admin/*.rs',
      'patient/Observation.read?category=x', // queries are v2 only
      'patient/Observation.',
    ]) {
      expect(parseScope(s, isType), s).toBeUndefined();
    }
  });
});

describe('grantScopes', () => {
  it('grants the overlap of requested and allowed, never more', () => {
    expect(grantScopes(['system/*.*'], ['system/Observation.rs'], isType)).toEqual([
      'system/Observation.read',
    ]);
    expect(grantScopes(['system/*.cruds'], ['system/*.rs'], isType)).toEqual(['system/*.rs']);
    expect(grantScopes(['system/Patient.rs'], ['system/*.cruds'], isType)).toEqual([
      'system/Patient.rs',
    ]);
    expect(grantScopes(['system/Patient.c'], ['system/*.rs'], isType)).toEqual([]);
    expect(grantScopes(['user/*.rs'], ['system/*.rs'], isType)).toEqual([]);
  });

  it('keeps both granular restrictions', () => {
    expect(
      grantScopes(['system/Observation.rs'], ['system/Observation.rs?category=laboratory'], isType),
    ).toEqual(['system/Observation.rs?category=laboratory']);
  });

  it('grants non-resource scopes only when allowed verbatim', () => {
    expect(grantScopes(['fhirUser', 'openid'], ['fhirUser', 'system/*.rs'], isType)).toEqual([
      'fhirUser',
    ]);
  });
});
