import type { Bundle, Consent } from 'fhir/r4.js';
import type { Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAIN_ORIGIN_TAG, GRANT_ID_SYSTEM } from '../../src/consent/lifecycle/grant-to-consent.js';
import { FhirError, issue } from '../../src/fhir/errors.js';
import { consentRegistryAbi } from '../../src/ledger/abi/consent-registry.js';
import { ANVIL_DEV_PRIVATE_KEYS } from '../../src/ledger/anvil.js';
import { Decision } from '../../src/ledger/consent-encoding.js';
import { getToken, makeClient } from '../auth/auth-helpers.js';
import { startTestChain, type TestChain, waitFor } from '../support/test-chain.js';
import {
  consentFor,
  decideOnChain,
  grantStatus,
  type LifecycleServer,
  SCOPELESS_CUSTODIAN,
  startLifecycleServer,
} from './lifecycle-helpers.js';

// PHI of the run: none of it may appear on chain (last test).
const NAME = 'Zebedee Quillfeather';
const MRN = 'MRN-77341-QF';

describe('Consent over REST <-> grants on the ConsentRegistry (anvil, PostgreSQL)', () => {
  let chain: TestChain;
  let s: LifecycleServer;
  let patient: string;
  let other: string;
  let practitioner: string;
  let consentToken: string;
  let scopelessToken: string;
  const phi: string[] = [NAME, MRN];

  const consentCount = async () =>
    Number(
      (
        await s.server.services.db.pool.query(
          "SELECT count(*) AS n FROM resource_version WHERE resource_type = 'Consent'",
        )
      ).rows[0].n,
    );

  beforeAll(async () => {
    chain = await startTestChain();
    const other1 = await makeClient('other-ehr');
    const other2 = await makeClient(SCOPELESS_CUSTODIAN);
    s = await startLifecycleServer(chain, {}, [
      { clientId: other1.clientId, jwks: other1.jwks, scope: 'system/*.cruds consent/custodian' },
      { clientId: other2.clientId, jwks: other2.jwks, scope: 'system/*.cruds' },
    ]);
    consentToken = await getToken(s.server.base, other1, 'system/*.cruds consent/custodian');
    scopelessToken = await getToken(s.server.base, other2, 'system/*.cruds');
    const api = s.server.api;
    patient = `Patient/${
      (
        await api
          .post('/Patient')
          .send({
            resourceType: 'Patient',
            name: [{ text: NAME }],
            identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: MRN }],
          })
          .expect(201)
      ).body.id
    }`;
    other = `Patient/${(await api.post('/Patient').send({ resourceType: 'Patient' })).body.id}`;
    practitioner = `Practitioner/${
      (await api.post('/Practitioner').send({ resourceType: 'Practitioner' })).body.id
    }`;
    phi.push(patient, other, patient.split('/')[1]!, other.split('/')[1]!);
  }, 60_000);

  afterAll(async () => {
    await s?.server.close();
    await chain?.stop();
  });

  it('create, update, inactive, reactivate and delete follow the contract state', async () => {
    const api = s.server.api;
    const body = consentFor(patient, practitioner, ['Observation']);
    const created = await api.post('/Consent').send(body).expect(201);
    const id = created.body.id as string;
    expect(created.body.status).toBe('active');
    expect(await grantStatus(chain, s.salt, body, `Consent/${id}/_history/1`)).toBe(1);
    expect(await decideOnChain(chain, s.salt, patient, practitioner, 'Observation')).toBe(
      Decision.Permit,
    );

    const condition = { ...consentFor(patient, practitioner, ['Condition']), id };
    await api.put(`/Consent/${id}`).send(condition).expect(200);
    expect(await grantStatus(chain, s.salt, body, `Consent/${id}/_history/1`)).toBe(2);
    expect(await grantStatus(chain, s.salt, condition, `Consent/${id}/_history/2`)).toBe(1);
    expect(await decideOnChain(chain, s.salt, patient, practitioner, 'Observation')).toBe(
      Decision.NotApplicable,
    );
    expect(await decideOnChain(chain, s.salt, patient, practitioner, 'Condition')).toBe(
      Decision.Permit,
    );

    await api
      .put(`/Consent/${id}`)
      .send({ ...condition, status: 'inactive' })
      .expect(200);
    expect(await grantStatus(chain, s.salt, condition, `Consent/${id}/_history/2`)).toBe(2);
    expect(await decideOnChain(chain, s.salt, patient, practitioner, 'Condition')).toBe(
      Decision.NotApplicable,
    );

    await api.put(`/Consent/${id}`).send(condition).expect(200);
    expect(await grantStatus(chain, s.salt, condition, `Consent/${id}/_history/4`)).toBe(1);
    await api.delete(`/Consent/${id}`).expect(204);
    expect(await grantStatus(chain, s.salt, condition, `Consent/${id}/_history/4`)).toBe(2);
    expect(await decideOnChain(chain, s.salt, patient, practitioner, 'Condition')).toBe(
      Decision.NotApplicable,
    );
  });

  it('concurrent Consent writes (more than the pool has connections) all land, grants mined', async () => {
    const dr = `Practitioner/${
      (await s.server.api.post('/Practitioner').send({ resourceType: 'Practitioner' })).body.id
    }`;
    const bodies = Array.from({ length: 14 }, () => consentFor(other, dr, ['Observation']));
    const results = await Promise.all(
      bodies.map((body) => s.server.api.post('/Consent').send(body)),
    );
    expect(results.map((r) => r.status)).toEqual(bodies.map(() => 201));
    for (const [i, res] of results.entries()) {
      expect(
        await grantStatus(chain, s.salt, bodies[i]!, `Consent/${res.body.id}/_history/1`),
      ).toBe(1);
    }
  }, 120_000);

  it('stores draft and proposed Consents without grants', async () => {
    for (const status of ['draft', 'proposed'] as const) {
      const body = { ...consentFor(patient, practitioner, ['Encounter']), status };
      const res = await s.server.api.post('/Consent').send(body).expect(201);
      expect(res.body.status).toBe(status);
      expect(await grantStatus(chain, s.salt, body, `Consent/${res.body.id}/_history/1`)).toBe(0);
    }
    expect(await decideOnChain(chain, s.salt, patient, practitioner, 'Encounter')).toBe(
      Decision.NotApplicable,
    );
  });

  it('rejects unsupported constructs with one 422 naming each, storing nothing', async () => {
    const before = await consentCount();
    const body: Consent = {
      ...consentFor(patient, practitioner, ['Observation']),
      extension: [{ url: 'http://example.org/x', valueString: 'y' }],
    };
    body.provision = {
      ...body.provision,
      dataPeriod: { start: '2020-01-01' },
      securityLabel: [
        { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' },
      ],
    };
    const res = await s.server.api.post('/Consent').send(body).expect(422);
    const expressions = res.body.issue.flatMap((i: { expression?: string[] }) => i.expression);
    expect(expressions).toEqual(
      expect.arrayContaining([
        'Consent.extension[0]',
        'Consent.provision.dataPeriod',
        'Consent.provision.securityLabel',
      ]),
    );
    expect(await consentCount()).toBe(before);
  });

  it('refuses the grantee, other clients and a custodian without the scope (403)', async () => {
    const before = await consentCount();
    const body = consentFor(patient, practitioner, ['Observation']);
    const grantee = await s.token({ fhirUser: practitioner, scope: 'user/Consent.cruds' });
    const refused = await s.as(grantee).post('/Consent').send(body).expect(403);
    expect(refused.body.resourceType).toBe('OperationOutcome');
    await s.as(consentToken).post('/Consent').send(body).expect(403);
    await s.as(scopelessToken).post('/Consent').send(body).expect(403);
    // Another patient's context cannot record this patient's consent either.
    const stranger = await s.token({
      fhirUser: other,
      patient: other.split('/')[1],
      scope: 'patient/Consent.cruds',
    });
    await s
      .as(stranger)
      .post('/Consent')
      .send({ ...body })
      .expect(403);
    expect(await consentCount()).toBe(before);
  });

  it('lets the patient record and revoke their own consent (patient-context token)', async () => {
    const token = await s.token({
      fhirUser: patient,
      patient: patient.split('/')[1],
      scope: 'patient/Consent.cruds',
    });
    const body = consentFor(patient, practitioner, ['AllergyIntolerance']);
    const res = await s.as(token).post('/Consent').send(body).expect(201);
    expect(await grantStatus(chain, s.salt, body, `Consent/${res.body.id}/_history/1`)).toBe(1);
    await s.as(token).delete(`/Consent/${res.body.id}`).expect(204);
    expect(await grantStatus(chain, s.salt, body, `Consent/${res.body.id}/_history/1`)).toBe(2);
  });

  it('writes the grants of Consents inside a transaction Bundle', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:7f3e9d52-1111-4c4c-9e9e-000000000001',
          resource: { resourceType: 'Patient' },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: consentFor('urn:uuid:7f3e9d52-1111-4c4c-9e9e-000000000001', practitioner, [
            'Immunization',
          ]),
          request: { method: 'POST', url: 'Consent' },
        },
      ],
    };
    const res = await s.server.api.post('/').send(bundle).expect(200);
    const [newPatient, consentLocation] = res.body.entry.map(
      (e: { response: { location: string } }) => e.response.location.split('/_history')[0],
    );
    phi.push(newPatient, newPatient.split('/')[1]);
    expect(await decideOnChain(chain, s.salt, newPatient, practitioner, 'Immunization')).toBe(
      Decision.Permit,
    );
    const stored = (await s.server.api.get(`/${consentLocation}`).expect(200)).body as Consent;
    expect(stored.patient?.reference).toBe(newPatient);
  });

  it('shows grants made directly on chain as Consents, and their revocation', async () => {
    const wallet = chain.admin; // any account the custodian bound to the patient key
    const { referenceKey } = await import('../../src/consent/consent-to-grant.js');
    const patientKey = referenceKey(s.salt, other);
    // A custodian account of its own: the server's account (the operator) sends its anchors and
    // consent transactions meanwhile, and two senders on one account race for nonces.
    const custodian = await import('../../src/ledger/ledger-client.js').then((m) =>
      m.createLedgerClient({
        rpcUrl: chain.rpcUrl,
        privateKey: ANVIL_DEV_PRIVATE_KEYS[2],
        pollingInterval: 50,
      }),
    );
    const custodianRole = await chain.admin.readContract({
      address: chain.consentRegistry,
      abi: consentRegistryAbi,
      functionName: 'CUSTODIAN_ROLE',
    });
    const send = async (client: typeof wallet, functionName: string, args: readonly unknown[]) => {
      const hash = await client.writeContract({
        address: chain.consentRegistry,
        abi: consentRegistryAbi,
        // biome-ignore lint/suspicious/noExplicitAny: one helper for several functions
        functionName: functionName as any,
        // biome-ignore lint/suspicious/noExplicitAny: one helper for several functions
        args: args as any,
      });
      expect((await client.waitForTransactionReceipt({ hash })).status).toBe('success');
    };
    await send(chain.admin, 'grantRole', [custodianRole, custodian.account.address]);
    await send(custodian, 'bindPatientAccount', [patientKey, wallet.account.address]);
    const grantId = `0x${'ab'.repeat(32)}` as Hex;
    await send(wallet, 'grant', [
      grantId,
      {
        patient: patientKey,
        actor: referenceKey(s.salt, practitioner),
        classes: 1n << 27n, // Condition
        actions: 1,
        purposes: 1,
        validFrom: 0n,
        validUntil: 0n,
        effect: 0,
        consentVersion: `0x${'cd'.repeat(32)}`,
      },
    ]);
    const find = async () =>
      (await s.server.api.get(`/Consent?identifier=${GRANT_ID_SYSTEM}|${grantId}`).expect(200))
        .body as Bundle<Consent>;
    await waitFor('the chain grant as a Consent', async () => (await find()).entry?.length === 1);
    const consent = (await find()).entry![0]!.resource!;
    expect(consent.status).toBe('active');
    expect(consent.meta?.tag).toEqual([expect.objectContaining({ ...CHAIN_ORIGIN_TAG })]);
    expect(consent.patient?.reference).toBe(other);
    expect(consent.provision?.type).toBe('permit');
    expect(consent.provision?.actor?.[0]?.reference?.reference).toBe(practitioner);
    expect(consent.provision?.class?.map((c) => c.code)).toEqual(['Condition']);
    expect(consent.provision?.purpose?.map((c) => c.code)).toEqual(['TREAT']);

    await send(wallet, 'revoke', [grantId]);
    await waitFor(
      'the revoked chain grant as an inactive Consent',
      async () => (await find()).entry?.[0]?.resource?.status === 'inactive',
    );
  });

  it('a grant mined for a write whose commit then failed shows as a chain Consent', async () => {
    const failing = 'urn:test:fail-commit';
    s.server.services.hooks.beforeCommit.push(async (_tx, versions) => {
      const marked = versions.some((v) =>
        (v.resource as Consent | undefined)?.identifier?.some((i) => i.system === failing),
      );
      if (marked) throw new FhirError(500, [issue('exception', 'commit failed (test)')]);
    });
    const body = {
      ...consentFor(patient, practitioner, ['Procedure']),
      identifier: [{ system: failing, value: '1' }],
    };
    const before = await consentCount();
    await s.server.api.post('/Consent').send(body).expect(500);
    // The grant is on chain although the Consent was not stored...
    expect(await decideOnChain(chain, s.salt, patient, practitioner, 'Procedure')).toBe(
      Decision.Permit,
    );
    // ... so the server shows it (and it can be revoked through it).
    const search = async () =>
      (await s.server.api.get(`/Consent?patient=${patient}&_tag=${CHAIN_ORIGIN_TAG.system}|chain`))
        .body as Bundle<Consent>;
    await waitFor('the orphan grant as a Consent', async () =>
      Boolean(
        (await search()).entry?.some((e) =>
          e.resource?.provision?.class?.some((c) => c.code === 'Procedure'),
        ),
      ),
    );
    expect(await consentCount()).toBeGreaterThan(before);
    const orphan = (await search()).entry!.find((e) =>
      e.resource?.provision?.class?.some((c) => c.code === 'Procedure'),
    )!.resource!;
    await s.server.api.delete(`/Consent/${orphan.id}`).expect(204);
    expect(await decideOnChain(chain, s.salt, patient, practitioner, 'Procedure')).toBe(
      Decision.NotApplicable,
    );
  });

  it('puts no PHI on chain: no patient id, name or identifier in any calldata or log', async () => {
    const head = await chain.admin.getBlockNumber({ cacheTime: 0 });
    const needles = phi.flatMap((text) => {
      const utf8 = Buffer.from(text, 'utf8').toString('hex');
      const asHex = text.replace(/-/g, '').toLowerCase();
      return /^[0-9a-f]{32}$/.test(asHex) ? [utf8, asHex] : [utf8];
    });
    let scanned = 0;
    for (let n = 0n; n <= head; n++) {
      const block = await chain.admin.getBlock({ blockNumber: n, includeTransactions: true });
      for (const tx of block.transactions) {
        const receipt = await chain.admin.getTransactionReceipt({ hash: tx.hash });
        const haystack = [tx.input, ...receipt.logs.flatMap((l) => [l.data, ...l.topics])]
          .join('')
          .toLowerCase();
        for (const needle of needles) expect(haystack.includes(needle), needle).toBe(false);
        scanned++;
      }
    }
    // The consent writes above are many transactions; the scan did see them.
    expect(scanned).toBeGreaterThan(15);
  });
});
