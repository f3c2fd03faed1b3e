import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Consent } from 'fhir/r4.js';
import { generatePrivateKey } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceKey } from '../../src/consent/consent-to-grant.js';
import { ETHEREUM_ADDRESS_SYSTEM } from '../../src/consent/lifecycle/authorise-consent-writer.js';
import { consentRegistryAbi } from '../../src/ledger/abi/consent-registry.js';
import { ANVIL_DEV_PRIVATE_KEYS } from '../../src/ledger/anvil.js';
import { Decision } from '../../src/ledger/consent-encoding.js';
import { createLedgerClient, type LedgerClient } from '../../src/ledger/ledger-client.js';
import { startTestChain, type TestChain, waitFor } from '../support/test-chain.js';
import { startTestServer } from '../support/test-server.js';
import {
  consentFor,
  decideOnChain,
  grantStatus,
  type LifecycleServer,
  signConsent,
  startLifecycleServer,
} from './lifecycle-helpers.js';

describe('patient-signed Consents on a deployment without custodian grants', () => {
  let chain: TestChain;
  let s: LifecycleServer;
  let wallet: LedgerClient;
  let delegateWallet: LedgerClient;
  let patient: string;
  let practitioner: string;
  let patientToken: string;

  const count = async () =>
    Number(
      (
        await s.server.services.db.pool.query(
          "SELECT count(*) AS n FROM resource_version WHERE resource_type = 'Consent'",
        )
      ).rows[0].n,
    );
  const wallets = (key: `0x${string}`) =>
    createLedgerClient({ rpcUrl: chain.rpcUrl, privateKey: key, pollingInterval: 50 });

  beforeAll(async () => {
    chain = await startTestChain();
    const hash = await chain.admin.writeContract({
      address: chain.consentRegistry,
      abi: consentRegistryAbi,
      functionName: 'disableCustodianGrants',
    });
    await chain.admin.waitForTransactionReceipt({ hash });
    s = await startLifecycleServer(chain, { custodianGrants: false });
    wallet = await wallets(ANVIL_DEV_PRIVATE_KEYS[2]);
    delegateWallet = await wallets(generatePrivateKey()); // signs only
    const api = s.server.api;
    patient = `Patient/${(await api.post('/Patient').send({ resourceType: 'Patient' })).body.id}`;
    practitioner = `Practitioner/${
      (await api.post('/Practitioner').send({ resourceType: 'Practitioner' })).body.id
    }`;
    patientToken = await s.token({
      fhirUser: patient,
      patient: patient.split('/')[1],
      scope: 'patient/Consent.cruds',
    });
  }, 60_000);

  afterAll(async () => {
    await s?.server.close();
    await chain?.stop();
  });

  it('refuses a custodian-made grant with 403 and stores nothing', async () => {
    const before = await count();
    const res = await s.server.api
      .post('/Consent')
      .send(consentFor(patient, practitioner, ['Observation']))
      .expect(403);
    expect(res.body.issue[0].diagnostics).toContain('CONSENT_CUSTODIAN_GRANTS=false');
    expect(await count()).toBe(before);
  });

  it('relays the patient-signed grant (grantWithSig), binding the signing account on first use', async () => {
    const body = { ...consentFor(patient, practitioner, ['Observation']), id: 'signed-1' };
    const signed = await signConsent(chain, s.salt, wallet, body, 'Consent/signed-1/_history/1');
    const from = await chain.admin.getBlockNumber({ cacheTime: 0 });
    await s.as(patientToken).put('/Consent/signed-1').send(signed).expect(201);
    expect(await grantStatus(chain, s.salt, body, 'Consent/signed-1/_history/1')).toBe(1);
    expect(await decideOnChain(chain, s.salt, patient, practitioner, 'Observation')).toBe(
      Decision.Permit,
    );
    const patientKey = referenceKey(s.salt, patient);
    const bound = await chain.admin.readContract({
      address: chain.consentRegistry,
      abi: consentRegistryAbi,
      functionName: 'patientAccount',
      args: [patientKey],
    });
    expect(bound).toBe(wallet.account.address);
    const created = await chain.admin.getContractEvents({
      address: chain.consentRegistry,
      abi: consentRegistryAbi,
      eventName: 'GrantCreated',
      fromBlock: from,
    });
    // The grant is the patient's act, not the server's.
    expect(created.map((e) => e.args.by)).toEqual([wallet.account.address]);
  });

  it('rejects a signature by another key with 422 and stores nothing', async () => {
    const body = { ...consentFor(patient, practitioner, ['Condition']), id: 'forged-1' };
    const forged = await signConsent(
      chain,
      s.salt,
      delegateWallet, // not (yet) a delegate
      body,
      'Consent/forged-1/_history/1',
    );
    const before = await count();
    await s.as(patientToken).put('/Consent/forged-1').send(forged).expect(422);
    expect(await count()).toBe(before);
    expect(await grantStatus(chain, s.salt, body, 'Consent/forged-1/_history/1')).toBe(0);
  });

  it('rejects signatures that do not match the grants one to one (422)', async () => {
    const body = { ...consentFor(patient, practitioner, ['Condition']), id: 'short-1' };
    const signed = await signConsent(chain, s.salt, wallet, body, 'Consent/short-1/_history/1');
    const twice = { ...signed, extension: [...signed.extension!, ...signed.extension!] };
    await s.as(patientToken).put('/Consent/short-1').send(twice).expect(422);
  });

  it('accepts a registered delegate, signing with their own key', async () => {
    const patientKey = referenceKey(s.salt, patient);
    const hash = await wallet.writeContract({
      address: chain.consentRegistry,
      abi: consentRegistryAbi,
      functionName: 'setDelegate',
      args: [patientKey, delegateWallet.account.address, true],
    });
    await wallet.waitForTransactionReceipt({ hash });
    const person = await s.server.api
      .post('/RelatedPerson')
      .send({
        resourceType: 'RelatedPerson',
        patient: { reference: patient },
        identifier: [{ system: ETHEREUM_ADDRESS_SYSTEM, value: delegateWallet.account.address }],
      })
      .expect(201);
    const stranger = await s.server.api
      .post('/RelatedPerson')
      .send({ resourceType: 'RelatedPerson', patient: { reference: patient } })
      .expect(201);
    const asDelegate = await s.token({
      fhirUser: `RelatedPerson/${person.body.id}`,
      scope: 'user/Consent.cruds',
    });
    const asStranger = await s.token({
      fhirUser: `RelatedPerson/${stranger.body.id}`,
      scope: 'user/Consent.cruds',
    });
    const body = { ...consentFor(patient, practitioner, ['Encounter']), id: 'delegated-1' };
    const signed = await signConsent(
      chain,
      s.salt,
      delegateWallet,
      body,
      'Consent/delegated-1/_history/1',
    );
    await s.as(asStranger).put('/Consent/delegated-1').send(signed).expect(403);
    // The mirror must have seen setDelegate before the server recognises the delegate.
    await waitFor('the delegate recorded', async () => {
      const res = await s.as(asDelegate).put('/Consent/delegated-1').send(signed);
      if (res.status !== 403 && res.status !== 201) throw new Error(`status ${res.status}`);
      return res.status === 201;
    });
    expect(await grantStatus(chain, s.salt, body, 'Consent/delegated-1/_history/1')).toBe(1);
  });

  it('$signing-request gives the messages to sign; the signed Consent is then relayed', async () => {
    const body = { ...consentFor(patient, practitioner, ['Procedure']), id: 'via-op-1' };
    const before = await count();
    const res = await s
      .as(patientToken)
      .post('/Consent/$signing-request')
      .send({ resourceType: 'Parameters', parameter: [{ name: 'resource', resource: body }] })
      .expect(200);
    expect(await count()).toBe(before);
    const params = res.body.parameter as Array<{
      name: string;
      valueInteger?: number;
      valueInstant?: string;
      part?: Array<{ name: string; valueString: string }>;
    }>;
    expect(params.find((p) => p.name === 'versionId')?.valueInteger).toBe(1);
    const deadline = params.find((p) => p.name === 'deadline')?.valueInstant as string;
    const extension = [];
    for (const grant of params.filter((p) => p.name === 'grant')) {
      // What a wallet's eth_signTypedData_v4 receives: numbers as decimal strings.
      const typedData = JSON.parse(grant.part!.find((p) => p.name === 'typedData')!.valueString);
      const signature = await wallet.account.signTypedData!(typedData);
      extension.push({
        url: 'https://fhir-ledger.dev/StructureDefinition/consent-grant-signature',
        extension: [
          { url: 'signature', valueString: signature },
          { url: 'deadline', valueInstant: deadline },
        ],
      });
    }
    expect(extension).toHaveLength(1);
    await s
      .as(patientToken)
      .put('/Consent/via-op-1')
      .send({ ...body, extension })
      .expect(201);
    expect(await grantStatus(chain, s.salt, body, 'Consent/via-op-1/_history/1')).toBe(1);
    // A caller who may not record the consent learns nothing.
    const grantee = await s.token({ fhirUser: practitioner, scope: 'user/Consent.cruds' });
    await s.as(grantee).post('/Consent/$signing-request').send(body).expect(403);
  });

  it('refuses to revoke for the patient (only their wallet can): 403, the grant stays', async () => {
    const current = (await s.server.api.get('/Consent/signed-1').expect(200)).body as Consent;
    await s
      .as(patientToken)
      .put('/Consent/signed-1')
      .send({ ...current, status: 'inactive' })
      .expect(403);
    const body = consentFor(patient, practitioner, ['Observation']);
    expect(
      await grantStatus(chain, s.salt, { ...body, id: 'signed-1' }, 'Consent/signed-1/_history/1'),
    ).toBe(1);
  });

  it('a server allowed to grant still gets 403 when the contract refuses custodians', async () => {
    const permissive = await startLifecycleServer(chain, { custodianGrants: true });
    try {
      const before = Number(
        (
          await permissive.server.services.db.pool.query(
            "SELECT count(*) AS n FROM resource_version WHERE resource_type = 'Consent'",
          )
        ).rows[0].n,
      );
      const p = (await permissive.server.api.post('/Patient').send({ resourceType: 'Patient' }))
        .body.id;
      const res = await permissive.server.api
        .post('/Consent')
        .send(consentFor(`Patient/${p}`, practitioner, ['Observation']))
        .expect(403);
      expect(res.body.issue[0].diagnostics).toContain('ConsentRegistryUnauthorized');
      const after = await permissive.server.services.db.pool.query(
        "SELECT count(*) AS n FROM resource_version WHERE resource_type = 'Consent'",
      );
      expect(Number(after.rows[0].n)).toBe(before);
    } finally {
      await permissive.server.close();
    }
  });
});

describe('the embedded chain deploys the ConsentRegistry as CONSENT_CUSTODIAN_GRANTS says', () => {
  for (const allowed of [false, true]) {
    it(`custodianGrants=${allowed}`, async () => {
      const dataDir = await mkdtemp(path.join(tmpdir(), 'lifecycle-embedded-'));
      const server = await startTestServer({
        dataDir,
        ledger: {
          chain: { kind: 'embedded', port: 0, blockTime: undefined },
          redisUrl: undefined,
          queueName: 'anchor',
          anchor: {
            batchSize: 10,
            confirmations: 1,
            intervalMs: 50,
            receiptTimeoutMs: 10_000,
            redispatchAfterMs: 5000,
            stalledCheckMs: 1000,
            concurrency: 4,
          },
        },
        consent: {
          saltFile: path.join(dataDir, 'salt'),
          fromBlock: 0n,
          maxStalenessBlocks: 2,
          maxHeadAgeMs: 5000,
          pollIntervalMs: 50,
          confirmations: 0,
          custodianClients: [],
          custodianGrants: allowed,
          auditFlushMs: 50,
          auditMaxPending: 50_000,
          auditGroup: true,
        },
      });
      try {
        const onChain = await server.ledger!.client.readContract({
          address: server.ledger!.consentRegistry,
          abi: consentRegistryAbi,
          functionName: 'custodianGrantsAllowed',
        });
        expect(onChain).toBe(allowed);
      } finally {
        await server.close();
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  }
});
