import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Consent } from 'fhir/r4.js';
import jose from 'node-jose';
import request from 'supertest';
import type { Hex } from 'viem';
import type { RegisteredClient } from '../../src/auth/client-registry.js';
import type { ConsentConfig } from '../../src/config.js';
import { loadConsentSalt } from '../../src/consent/consent-salt.js';
import { consentToGrants, referenceKey } from '../../src/consent/consent-to-grant.js';
import { GRANT_SIGNATURE_URL } from '../../src/consent/lifecycle/grant-signature.js';
import { consentRegistryAbi } from '../../src/ledger/abi/consent-registry.js';
import { classIndex, purposeIndex } from '../../src/ledger/consent-encoding.js';
import { grantTypedData } from '../../src/ledger/consent-typed-data.js';
import type { LedgerClient } from '../../src/ledger/ledger-client.js';
import { bearer, externalToken } from '../auth/auth-helpers.js';
import type { TestChain } from '../support/test-chain.js';
import { HARNESS_CLIENT, startTestServer, type TestServer } from '../support/test-server.js';

export const ISSUER = 'https://idp.example.org/oauth';
/** A client listed as custodian that lacks the consent/custodian scope. */
export const SCOPELESS_CUSTODIAN = 'ehr-without-consent-scope';

export interface LifecycleServer {
  server: TestServer;
  salt: Hex;
  idpKey: jose.JWK.Key;
  /** Token of an external-issuer user: `claims` are fhirUser, patient, scope. */
  token(claims: { fhirUser?: string; patient?: string; scope: string }): Promise<string>;
  as(token: string): ReturnType<typeof request.agent>;
}

/** The real server on `chain` with a salt file the test can read, and an external issuer. */
export async function startLifecycleServer(
  chain: TestChain,
  consent: Partial<ConsentConfig> = {},
  clients: RegisteredClient[] = [],
): Promise<LifecycleServer> {
  const idpKey = await jose.JWK.createKey('RSA', 2048, { alg: 'RS256', kid: 'idp-1' });
  const saltFile = path.join(await mkdtemp(path.join(tmpdir(), 'lifecycle-salt-')), 'salt');
  const server = await startTestServer(
    {
      ledger: chain.ledgerConfig(),
      consent: {
        saltFile,
        fromBlock: 0n,
        maxStalenessBlocks: 2,
        maxHeadAgeMs: 5000,
        pollIntervalMs: 50,
        confirmations: 0,
        custodianClients: [HARNESS_CLIENT, SCOPELESS_CUSTODIAN],
        custodianGrants: true,
        auditFlushMs: 50,
        auditMaxPending: 50_000,
        auditGroup: true,
        ...consent,
      },
    },
    undefined,
    { issuers: [{ issuer: ISSUER, jwks: { keys: [idpKey.toJSON()] } }], clients },
  );
  const salt = await loadConsentSalt(saltFile);
  return {
    server,
    salt,
    idpKey,
    token: ({ fhirUser, patient, scope }) =>
      externalToken(idpKey, {
        iss: ISSUER,
        aud: server.base,
        sub: fhirUser ?? 'someone',
        client_id: 'app',
        scope,
        ...(fhirUser ? { fhirUser } : {}),
        ...(patient ? { patient } : {}),
      }),
    as: (token) => request.agent(server.base).set(bearer(token)),
  };
}

export const PRIVACY = {
  coding: [
    { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' },
  ],
};
const RECIPIENT = {
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' }],
};

/** An active privacy Consent: `actor` may read `classes` for treatment. */
export function consentFor(patient: string, actor: string, classes: string[]): Consent {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: PRIVACY,
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: patient },
    policyRule: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }],
    },
    provision: {
      type: 'permit',
      actor: [{ role: RECIPIENT, reference: { reference: actor } }],
      action: [
        {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'access' },
          ],
        },
      ],
      purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }],
      class: classes.map((code) => ({ system: 'http://hl7.org/fhir/resource-types', code })),
    },
  };
}

/** The contract's own decision for a read by `actor` of `resourceType` for treatment, now. */
export async function decideOnChain(
  chain: TestChain,
  salt: Hex,
  patient: string,
  actor: string,
  resourceType: string,
): Promise<number> {
  return chain.admin.readContract({
    address: chain.consentRegistry,
    abi: consentRegistryAbi,
    functionName: 'decide',
    args: [
      referenceKey(salt, patient),
      referenceKey(salt, actor),
      classIndex(resourceType),
      0,
      purposeIndex('TREAT'),
      BigInt(Math.floor(Date.now() / 1000)),
    ],
  });
}

/** Status on chain (0 none, 1 active, 2 revoked) of grant `n` of a Consent version. */
export async function grantStatus(
  chain: TestChain,
  salt: Hex,
  consent: Consent,
  consentVersion: string,
  n = 0,
): Promise<number> {
  const { grants } = consentToGrants({ ...consent, status: 'active' }, { salt, consentVersion });
  const grant = await chain.admin.readContract({
    address: chain.consentRegistry,
    abi: consentRegistryAbi,
    functionName: 'getGrant',
    args: [grants[n]!.grantId],
  });
  return grant.status;
}

/** `consent` with the patient wallet's signatures of its grants as version `consentVersion`. */
export async function signConsent(
  chain: TestChain,
  salt: Hex,
  wallet: LedgerClient,
  consent: Consent,
  consentVersion: string,
): Promise<Consent> {
  const { grants, patientKey } = consentToGrants(consent, { salt, consentVersion });
  const nonce = await chain.admin.readContract({
    address: chain.consentRegistry,
    abi: consentRegistryAbi,
    functionName: 'nonces',
    args: [patientKey],
  });
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600);
  const domain = { chainId: chain.admin.chain.id, verifyingContract: chain.consentRegistry };
  const extension = [];
  for (const [i, grant] of grants.entries()) {
    const signature = await wallet.account.signTypedData!(
      grantTypedData(domain, {
        grantId: grant.grantId,
        terms: grant.terms,
        nonce: nonce + BigInt(i),
        deadline,
      }),
    );
    extension.push({
      url: GRANT_SIGNATURE_URL,
      extension: [
        { url: 'signature', valueString: signature },
        {
          url: 'deadline',
          valueInstant: new Date(Number(deadline) * 1000).toISOString().replace('.000Z', 'Z'),
        },
      ],
    });
  }
  return { ...consent, extension };
}
