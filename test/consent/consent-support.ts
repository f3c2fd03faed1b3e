import path from 'node:path';
import type { Consent, ConsentProvision } from 'fhir/r4.js';
import type jose from 'node-jose';
import request from 'supertest';
import type { Hex } from 'viem';
import type { AccessRecord } from '../../src/consent/access-record.js';
import { peekAccessRecord } from '../../src/consent/access-record.js';
import { loadConsentSalt } from '../../src/consent/consent-salt.js';
import { consentToGrants } from '../../src/consent/consent-to-grant.js';
import { consentRegistryAbi } from '../../src/ledger/abi/consent-registry.js';
import { ANVIL_DEV_PRIVATE_KEYS } from '../../src/ledger/anvil.js';
import { createLedgerClient, type LedgerClient } from '../../src/ledger/ledger-client.js';
import { bearer, externalToken } from '../auth/auth-helpers.js';
import type { TestChain } from '../support/test-chain.js';
import { waitFor } from '../support/test-chain.js';
import type { TestServer } from '../support/test-server.js';

export const ISSUER = 'https://idp.hospital.example/oauth';

/** A consent world on a test server: grants written on the contract by the custodian account. */
export interface ConsentWorld {
  salt: Hex;
  custodian: LedgerClient;
  idpKey: jose.JWK.Key;
  /** Writes every grant of the Consent on chain; resolves once the server's mirror has them. */
  grant(consent: Consent, version?: number): Promise<Hex[]>;
  /** Revokes grants on chain; resolves with the block of the last revocation, once mirrored. */
  revoke(grantIds: Hex[]): Promise<bigint>;
  /** An access token of the trusted external issuer with these claims. */
  token(claims: Record<string, unknown>): Promise<string>;
  get(path: string, token: string): request.Test;
  /** The access record of a finished request (by its X-Request-Id), once written. */
  recordOf(res: { headers: Record<string, string> }): Promise<AccessRecord | undefined>;
}

export async function consentWorld(
  server: TestServer,
  chain: TestChain,
  idpKey: jose.JWK.Key,
): Promise<ConsentWorld> {
  const salt = await loadConsentSalt(path.join(path.dirname(server.registryFile), 'consent-salt'));
  // A custodian account of its own: the server's account anchors concurrently (nonces).
  const custodian = await createLedgerClient({
    rpcUrl: chain.rpcUrl,
    privateKey: ANVIL_DEV_PRIVATE_KEYS[2],
    pollingInterval: 10,
  });
  const role = await chain.admin.readContract({
    address: chain.consentRegistry,
    abi: consentRegistryAbi,
    functionName: 'CUSTODIAN_ROLE',
  });
  await chain.admin.waitForTransactionReceipt({
    hash: await chain.admin.writeContract({
      address: chain.consentRegistry,
      abi: consentRegistryAbi,
      functionName: 'grantRole',
      args: [role, custodian.account.address],
    }),
  });
  const records = new Map<string, AccessRecord | undefined>();
  server.services.hooks.afterRequest.push(async (ctx) => {
    records.set(ctx.requestId, peekAccessRecord(ctx));
  });
  const mirror = server.consent!.mirror;
  const send = async (functionName: 'grant' | 'revoke', args: readonly unknown[]) => {
    const hash = await custodian.writeContract({
      address: chain.consentRegistry,
      abi: consentRegistryAbi,
      functionName,
      // biome-ignore lint/suspicious/noExplicitAny: one helper for two functions' tuples
      args: args as any,
      gas: 600_000n,
    });
    const receipt = await custodian.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') throw new Error(`${functionName} reverted`);
    await waitFor('the mirror', async () => mirror.seenBlock >= receipt.blockNumber, 10_000);
    return receipt.blockNumber;
  };
  return {
    salt,
    custodian,
    idpKey,
    async recordOf(res) {
      const requestId = res.headers['x-request-id']!;
      await waitFor('the access record', async () => records.has(requestId), 5000);
      return records.get(requestId);
    },
    async grant(consent, version = 1) {
      const { grants } = consentToGrants(consent, {
        salt,
        consentVersion: `Consent/${consent.id}/_history/${version}`,
      });
      for (const g of grants) await send('grant', [g.grantId, g.terms]);
      return grants.map((g) => g.grantId);
    },
    async revoke(grantIds) {
      let block = 0n;
      for (const id of grantIds) block = await send('revoke', [id]);
      return block;
    },
    token: (claims) =>
      externalToken(idpKey, { iss: ISSUER, aud: server.base, client_id: 'ehr-app', ...claims }),
    get: (p, token) => request(server.base).get(p).set(bearer(token)),
  };
}

let consentCounter = 0;

/** An R4 Consent (scope patient-privacy) with one root provision. */
export function consentFor(patient: string, provision: ConsentProvision): Consent {
  consentCounter += 1;
  return {
    resourceType: 'Consent',
    id: `c${consentCounter}-${Date.now()}`,
    status: 'active',
    scope: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' },
      ],
    },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patient}` },
    provision,
  };
}

/** A recipient actor of a provision. */
export const recipient = (reference: string) => ({
  role: {
    coding: [
      { system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' },
    ],
  },
  reference: { reference },
});

export const classes = (...types: string[]) =>
  types.map((code) => ({ system: 'http://hl7.org/fhir/resource-types', code }));

export const purposes = (...codes: string[]) =>
  codes.map((code) => ({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code }));
