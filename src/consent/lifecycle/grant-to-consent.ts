import type { Consent, ConsentProvision } from 'fhir/r4.js';
import type { Hex } from 'viem';
import {
  ACTIONS,
  ALL_CLASSES,
  ALL_PURPOSES,
  ANY_ACTOR,
  Effect,
  PURPOSES,
  RESOURCE_CLASSES,
} from '../../ledger/consent-encoding.js';
import type { GrantTerms } from '../../ledger/consent-typed-data.js';

/** meta.tag of Consents the server materialised from grants made directly on chain. */
export const CHAIN_ORIGIN_TAG = {
  system: 'https://fhir-ledger.dev/CodeSystem/consent-origin',
  code: 'chain',
  display: 'Granted directly on the ConsentRegistry',
} as const;
/** Consent.identifier system of the on-chain grant id a materialised Consent stands for. */
export const GRANT_ID_SYSTEM = 'https://fhir-ledger.dev/sid/consent-grant';
/** Reference.identifier system of an actor the server could not match to a resource. */
export const ACTOR_KEY_SYSTEM = 'https://fhir-ledger.dev/sid/consent-actor-key';

const ACTION_CODES: Record<(typeof ACTIONS)[number], string> = { read: 'access', write: 'correct' };

/**
 * The Consent a grant made on chain stands for: status active, the patient and actor
 * recovered from their salted keys (an unmatched actor keeps its key as identifier), the
 * provision from the grant's terms. Translating it back (`consentToGrants`) gives the same
 * terms when the actor is known.
 */
export function grantToConsent(
  grantId: Hex,
  terms: GrantTerms,
  patient: string,
  actor: string | undefined,
): Consent {
  const provision: ConsentProvision = {
    type: terms.effect === Effect.Deny ? 'deny' : 'permit',
  };
  if (terms.validFrom > 0n || terms.validUntil > 0n) {
    provision.period = {
      ...(terms.validFrom > 0n ? { start: instant(terms.validFrom) } : {}),
      // validUntil is exclusive; a Period's end is inclusive, to the second.
      ...(terms.validUntil > 0n ? { end: instant(terms.validUntil - 1n) } : {}),
    };
  }
  if (terms.actor.toLowerCase() !== ANY_ACTOR) {
    provision.actor = [
      {
        role: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' },
          ],
        },
        reference: actor
          ? { reference: actor }
          : { identifier: { system: ACTOR_KEY_SYSTEM, value: terms.actor } },
      },
    ];
  }
  if ((terms.actions & 0b11) !== 0b11) {
    provision.action = ACTIONS.filter((_, i) => (terms.actions >> i) & 1).map((a) => ({
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: ACTION_CODES[a] },
      ],
    }));
  }
  if (terms.purposes >>> 0 !== ALL_PURPOSES) {
    provision.purpose = PURPOSES.filter((_, i) => (terms.purposes >>> i) & 1).map((code) => ({
      system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
      code,
    }));
  }
  if (terms.classes !== ALL_CLASSES) {
    provision.class = RESOURCE_CLASSES.filter((_, i) => (terms.classes >> BigInt(i)) & 1n).map(
      (code) => ({ system: 'http://hl7.org/fhir/resource-types', code }),
    );
  }
  return {
    resourceType: 'Consent',
    meta: { tag: [{ ...CHAIN_ORIGIN_TAG }] },
    identifier: [{ system: GRANT_ID_SYSTEM, value: grantId }],
    status: 'active',
    scope: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' },
      ],
    },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: patient },
    policy: [{ uri: 'https://fhir-ledger.dev/ConsentRegistry' }],
    provision,
  };
}

function instant(seconds: bigint): string {
  return new Date(Number(seconds) * 1000).toISOString().replace('.000Z', 'Z');
}
