import type { Consent } from 'fhir/r4.js';
import type { Hex } from 'viem';
import { describe, expect, it } from 'vitest';
import { consentToGrants, referenceKey } from '../../src/consent/consent-to-grant.js';
import { GRANT_SIGNATURE_URL } from '../../src/consent/lifecycle/grant-signature.js';
import { ACTOR_KEY_SYSTEM, grantToConsent } from '../../src/consent/lifecycle/grant-to-consent.js';
import {
  ALL_CLASSES,
  ALL_PURPOSES,
  ANY_ACTOR,
  classMask,
  Effect,
  purposeMask,
} from '../../src/ledger/consent-encoding.js';

const salt: Hex = `0x${'5a'.repeat(32)}`;
const grantId: Hex = `0x${'01'.repeat(32)}`;
const version = 'Consent/c1/_history/1';

describe('grantToConsent: a grant made on chain as a Consent', () => {
  it('translates back to the same terms (permit, period, one actor, masks)', () => {
    const terms = {
      patient: referenceKey(salt, 'Patient/p1'),
      actor: referenceKey(salt, 'Practitioner/d1'),
      classes: classMask(['Observation', 'Condition']),
      actions: 0b01,
      purposes: purposeMask(['TREAT', 'ETREAT']),
      validFrom: 1_700_000_000n,
      validUntil: 1_800_000_000n,
      effect: Effect.Permit,
      consentVersion: referenceKey(salt, version),
    };
    const consent = grantToConsent(grantId, terms, 'Patient/p1', 'Practitioner/d1');
    const [back] = consentToGrants(consent, { salt, consentVersion: version }).grants;
    expect(back?.terms).toEqual(terms);
  });

  it('a wildcard deny for everything has no actor, action, purpose or class', () => {
    const terms = {
      patient: referenceKey(salt, 'Patient/p1'),
      actor: ANY_ACTOR,
      classes: ALL_CLASSES,
      actions: 0b11,
      purposes: ALL_PURPOSES,
      validFrom: 0n,
      validUntil: 0n,
      effect: Effect.Deny,
      consentVersion: referenceKey(salt, version),
    };
    const consent = grantToConsent(grantId, terms, 'Patient/p1', undefined);
    expect(consent.provision).toEqual({ type: 'deny' });
    expect(consentToGrants(consent, { salt, consentVersion: version }).grants[0]?.terms).toEqual(
      terms,
    );
  });

  it('keeps an actor it cannot match as its key', () => {
    const key = referenceKey(salt, 'Practitioner/unknown');
    const consent = grantToConsent(
      grantId,
      {
        patient: referenceKey(salt, 'Patient/p1'),
        actor: key,
        classes: ALL_CLASSES,
        actions: 0b11,
        purposes: ALL_PURPOSES,
        validFrom: 0n,
        validUntil: 0n,
        effect: Effect.Permit,
        consentVersion: key,
      },
      'Patient/p1',
      undefined,
    );
    expect(consent.provision?.actor?.[0]?.reference).toEqual({
      identifier: { system: ACTOR_KEY_SYSTEM, value: key },
    });
  });
});

describe('consentToGrants and the signature extension', () => {
  const base = grantToConsent(
    grantId,
    {
      patient: referenceKey(salt, 'Patient/p1'),
      actor: ANY_ACTOR,
      classes: ALL_CLASSES,
      actions: 0b11,
      purposes: ALL_PURPOSES,
      validFrom: 0n,
      validUntil: 0n,
      effect: Effect.Permit,
      consentVersion: referenceKey(salt, version),
    },
    'Patient/p1',
    undefined,
  );

  it('accepts the patient-signature extension and no other', () => {
    const signed: Consent = {
      ...base,
      extension: [{ url: GRANT_SIGNATURE_URL, extension: [] }],
    };
    expect(consentToGrants(signed, { salt, consentVersion: version }).grants).toHaveLength(1);
    const other: Consent = {
      ...base,
      extension: [{ url: 'http://example.org/x', valueCode: 'y' }],
    };
    expect(() => consentToGrants(other, { salt, consentVersion: version })).toThrow(
      /Consent\.extension\[0\]/,
    );
  });
});
