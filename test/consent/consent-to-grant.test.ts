import { readdirSync, readFileSync } from 'node:fs';
import type { Consent } from 'fhir/r4.js';
import type { Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentToGrants, referenceKey } from '../../src/consent/consent-to-grant.js';
import { FhirError } from '../../src/fhir/errors.js';
import { consentRegistryAbi } from '../../src/ledger/abi/consent-registry.js';
import {
  ALL_CLASSES,
  ALL_PURPOSES,
  ANY_ACTOR,
  classIndex,
  Decision,
  Effect,
  purposeIndex,
} from '../../src/ledger/consent-encoding.js';
import { createLedgerClient, type LedgerClient } from '../../src/ledger/ledger-client.js';
import { startTestChain, type TestChain } from '../support/test-chain.js';

const EXAMPLES = 'node_modules/hl7.fhir.r4.examples';
const salt: Hex = `0x${'5a'.repeat(32)}`;
const example = (name: string): Consent =>
  JSON.parse(readFileSync(`${EXAMPLES}/Consent-consent-example-${name}.json`, 'utf8'));
const translate = (consent: Consent, version = `Consent/${consent.id}/_history/1`) =>
  consentToGrants(consent, { salt, consentVersion: version });
/** The expressions a rejected Consent names. */
const rejected = (consent: Consent): string[] => {
  try {
    translate(consent);
  } catch (err) {
    expect(err).toBeInstanceOf(FhirError);
    expect((err as FhirError).status).toBe(422);
    return (err as FhirError).issues.map((i) => i.expression?.[0] ?? '');
  }
  throw new Error('translated, expected a 422');
};

describe('the official R4 Consent examples', () => {
  it('covers every example', () => {
    const names = readdirSync(EXAMPLES).filter((f) => f.startsWith('Consent-'));
    expect(names).toHaveLength(12);
  });

  it('notOrg: a deny on the root provision for one recipient, access and correct', () => {
    const { patientKey, grants } = translate(example('notOrg'));
    expect(patientKey).toBe(referenceKey(salt, 'Patient/f001'));
    expect(grants).toHaveLength(1);
    expect(grants[0]?.terms).toMatchObject({
      actor: referenceKey(salt, 'Organization/f001'),
      classes: ALL_CLASSES,
      actions: 0b11,
      purposes: ALL_PURPOSES,
      validFrom: 0n,
      validUntil: 0n,
      effect: Effect.Deny,
      consentVersion: referenceKey(salt, 'Consent/consent-example-notOrg/_history/1'),
    });
  });

  it('smartonfhir: the root frames the period, the nested permit reads MedicationRequest', () => {
    const { grants } = translate(example('smartonfhir'));
    expect(grants).toHaveLength(1);
    expect(grants[0]?.expression).toBe('Consent.provision.provision[0]');
    expect(grants[0]?.terms).toMatchObject({
      actor: ANY_ACTOR,
      classes: 1n << BigInt(classIndex('MedicationRequest')),
      actions: 0b01,
      effect: Effect.Permit,
      // 2016-06-23T17:02:33+10:00 up to and including 17:32:33+10:00.
      validFrom: BigInt(Date.parse('2016-06-23T07:02:33Z') / 1000),
      validUntil: BigInt(Date.parse('2016-06-23T07:32:34Z') / 1000),
    });
  });

  it.each([
    // No type anywhere: the text of these says "withhold" while policyRule says OPTIN, so the
    // base policy cannot be guessed from policyRule.
    ['basic', ['Consent.provision.type']],
    ['notThem', ['Consent.provision.type']],
    ['notTime', ['Consent.provision.type']],
    // The custodian (CST) role means "data held by", which a grant's actor cannot say.
    ['Out', ['Consent.provision.actor[0].role', 'Consent.provision.type']],
    ['notAuthor', ['Consent.provision.actor[0].role', 'Consent.provision.type']],
    ['grantor', ['Consent.provision.actor[0].role', 'Consent.provision.type']],
    [
      'Emergency',
      ['Consent.provision.actor[0].role', 'Consent.provision.provision[0].actor[0].role'],
    ],
    ['notThis', ['Consent.provision.data', 'Consent.provision.type']],
    [
      'signature',
      [
        'Consent.provision.provision[0].code',
        'Consent.provision.provision[0].actor[0].role',
        'Consent.provision.provision[0].class[0]',
      ],
    ],
  ])('%s is rejected, naming %j', (name, expressions) => {
    expect(rejected(example(name))).toEqual(expressions);
  });

  it('pkb is rejected for its securityLabel on every provision', () => {
    const named = rejected(example('pkb'));
    expect(named).toContain('Consent.provision.securityLabel');
    expect(named).toContain('Consent.provision.provision[10].securityLabel');
  });
});

describe('translation rules', () => {
  const base = (provision: Consent['provision']): Consent => ({
    ...example('notOrg'),
    provision,
  });
  const recipient = (reference: string) => ({
    role: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' },
      ],
    },
    reference: { reference },
  });

  it('rejects dataPeriod, securityLabel, code and extensions by name', () => {
    expect(
      rejected(
        base({
          type: 'permit',
          dataPeriod: { start: '2020-01-01' },
          securityLabel: [{ code: 'R' }],
          code: [{ text: 'x' }],
          extension: [{ url: 'http://example.org/x', valueString: 'y' }],
        }),
      ),
    ).toEqual([
      'Consent.provision.dataPeriod',
      'Consent.provision.securityLabel',
      'Consent.provision.code',
      'Consent.provision.extension',
    ]);
  });

  it('rejects another scope, a missing patient and unknown codes', () => {
    const consent = {
      ...base({
        type: 'permit',
        purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'XYZ' }],
        action: [{ coding: [{ system: 'http://example.org', code: 'access' }] }],
      }),
      scope: { coding: [{ code: 'research' }] },
      patient: undefined,
    };
    expect(rejected(consent)).toEqual([
      'Consent.scope',
      'Consent.patient',
      'Consent.provision.action[0]',
      'Consent.provision.purpose[0]',
    ]);
  });

  it('rejects a permit nested in a deny: deny grants always win on chain', () => {
    expect(
      rejected(base({ type: 'deny', provision: [{ type: 'permit', provision: [] }] })),
    ).toEqual(['Consent.provision.provision[0].type']);
  });

  it('nested rules inherit and narrow: one grant per typed provision and actor', () => {
    const { grants } = translate(
      base({
        type: 'permit',
        period: { start: '2020-01-01', end: '2020-12' },
        actor: [recipient('Practitioner/a'), recipient('PractitionerRole/b')],
        purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }],
        provision: [
          {
            type: 'deny',
            period: { start: '2020-06-01' },
            class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' }],
            action: [
              {
                coding: [
                  {
                    system: 'http://terminology.hl7.org/CodeSystem/consentaction',
                    code: 'collect',
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    expect(grants.map((g) => [g.expression, g.terms.actor, g.terms.effect])).toEqual([
      ['Consent.provision', referenceKey(salt, 'Practitioner/a'), Effect.Permit],
      ['Consent.provision', referenceKey(salt, 'PractitionerRole/b'), Effect.Permit],
      ['Consent.provision.provision[0]', referenceKey(salt, 'Practitioner/a'), Effect.Deny],
      ['Consent.provision.provision[0]', referenceKey(salt, 'PractitionerRole/b'), Effect.Deny],
    ]);
    const deny = grants[2]?.terms;
    expect(deny).toMatchObject({
      classes: 1n << BigInt(classIndex('Observation')),
      actions: 0b10,
      purposes: 1 << purposeIndex('TREAT'),
      validFrom: BigInt(Date.UTC(2020, 5, 1) / 1000),
      // "2020-12" lasts the whole of December.
      validUntil: BigInt(Date.UTC(2021, 0, 1) / 1000),
    });
    expect(new Set(grants.map((g) => g.grantId)).size).toBe(4);
  });

  it('gives the same grant ids for the same Consent version and new ones for the next', () => {
    const consent = example('notOrg');
    const ids = (version: string) => translate(consent, version).grants.map((g) => g.grantId);
    expect(ids('Consent/a/_history/1')).toEqual(ids('Consent/a/_history/1'));
    expect(ids('Consent/a/_history/2')).not.toEqual(ids('Consent/a/_history/1'));
  });
});

describe('translated grants on the ConsentRegistry (anvil)', () => {
  let chain: TestChain;
  let custodian: LedgerClient;

  beforeAll(async () => {
    chain = await startTestChain();
    custodian = await createLedgerClient({
      rpcUrl: chain.rpcUrl,
      privateKey: chain.operatorKey,
      pollingInterval: 10,
    });
  });
  afterAll(async () => {
    await chain?.stop();
  });

  const record = async (consent: Consent) => {
    const translated = translate(consent);
    for (const { grantId, terms } of translated.grants) {
      const hash = await custodian.writeContract({
        address: chain.consentRegistry,
        abi: consentRegistryAbi,
        functionName: 'grant',
        args: [grantId, terms],
      });
      const receipt = await custodian.waitForTransactionReceipt({ hash });
      expect(receipt.status).toBe('success');
    }
    return translated;
  };
  const decideOnChain = (
    patient: Hex,
    actor: string,
    type: string,
    action: number,
    purpose: string,
    at: string,
  ) =>
    chain.admin.readContract({
      address: chain.consentRegistry,
      abi: consentRegistryAbi,
      functionName: 'decide',
      args: [
        patient,
        referenceKey(salt, actor),
        classIndex(type),
        action,
        purposeIndex(purpose),
        BigInt(Date.parse(at) / 1000),
      ],
    });

  it('the contract accepts the grants and decides as the Consents say', async () => {
    const notOrg = await record(example('notOrg'));
    expect(
      await decideOnChain(
        notOrg.patientKey,
        'Organization/f001',
        'Observation',
        0,
        'TREAT',
        '2024-01-01T00:00:00Z',
      ),
    ).toBe(Decision.Deny);
    expect(
      await decideOnChain(
        notOrg.patientKey,
        'Organization/f002',
        'Observation',
        0,
        'TREAT',
        '2024-01-01T00:00:00Z',
      ),
    ).toBe(Decision.NotApplicable);

    const smart = example('smartonfhir');
    const { patientKey } = await record(smart);
    const inWindow = '2016-06-23T07:32:33Z';
    expect(
      await decideOnChain(
        patientKey,
        'Practitioner/any',
        'MedicationRequest',
        0,
        'HPAYMT',
        inWindow,
      ),
    ).toBe(Decision.Permit);
    expect(
      await decideOnChain(
        patientKey,
        'Practitioner/any',
        'MedicationRequest',
        1,
        'TREAT',
        inWindow,
      ),
    ).toBe(Decision.NotApplicable);
    expect(
      await decideOnChain(patientKey, 'Practitioner/any', 'Observation', 0, 'TREAT', inWindow),
    ).toBe(Decision.NotApplicable);
    expect(
      await decideOnChain(
        patientKey,
        'Practitioner/any',
        'MedicationRequest',
        0,
        'TREAT',
        '2016-06-23T07:32:34Z',
      ),
    ).toBe(Decision.NotApplicable);
  });
});
