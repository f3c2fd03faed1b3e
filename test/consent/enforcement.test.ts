import type { Bundle, Resource } from 'fhir/r4.js';
import jose from 'node-jose';
import request from 'supertest';
import type { Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BREAK_THE_GLASS_SCOPE } from '../../src/consent/enforcement/consent-caller.js';
import { bearer } from '../auth/auth-helpers.js';
import { startTestChain, type TestChain, waitFor } from '../support/test-chain.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import {
  type ConsentWorld,
  classes,
  consentFor,
  consentWorld,
  ISSUER,
  purposes,
  recipient,
} from './consent-support.js';

let chain: TestChain;
let server: TestServer;
let world: ConsentWorld;
let chainStopped = false;

/** Ids of the world: patient A consents to Dr One; patient B consents to nobody. */
const id = {} as Record<
  'drOne' | 'drTwo' | 'a' | 'b' | 'c' | 'obsA' | 'obsB' | 'condA' | 'encB' | 'obsC' | 'obsAFocus',
  string
>;
let asDrOne: string;
let asDrOneResearch: string;
let grantA: Hex[];

const SECRET = { coding: [{ system: 'http://loinc.org', code: '99999-9' }] };
// biome-ignore lint/suspicious/noExplicitAny: resources of several types, checked by the server
const post = async (resource: Resource & Record<string, any>) => {
  const res = await server.api.post(`/${resource.resourceType}`).send(resource).expect(201);
  return res.body.id as string;
};
const observation = (patient: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation' as const,
  status: 'final' as const,
  code: { text: 'blood pressure' },
  subject: { reference: `Patient/${patient}` },
  ...extra,
});
const refs = (bundle: Bundle) =>
  (bundle.entry ?? [])
    .filter((e) => e.resource)
    .map((e) => `${e.resource!.resourceType}/${e.resource!.id}`)
    .sort();

beforeAll(async () => {
  chain = await startTestChain();
  const idpKey = await jose.JWK.createKey('RSA', 2048, { alg: 'RS256', kid: 'idp-1' });
  server = await startTestServer({ ledger: chain.ledgerConfig() }, undefined, {
    issuers: [{ issuer: ISSUER, jwks: { keys: [idpKey.toJSON()] } }],
  });
  world = await consentWorld(server, chain, idpKey);

  id.drOne = await post({ resourceType: 'Practitioner', name: [{ family: 'One' }] });
  id.drTwo = await post({ resourceType: 'Practitioner', name: [{ family: 'Two' }] });
  id.a = await post({ resourceType: 'Patient', name: [{ family: 'Alpha' }] });
  id.b = await post({ resourceType: 'Patient', name: [{ family: 'Bravo' }] });
  id.c = await post({ resourceType: 'Patient', name: [{ family: 'Charlie' }] });
  id.obsB = await post(
    observation(id.b, { code: SECRET, performer: [{ reference: `Practitioner/${id.drTwo}` }] }),
  );
  id.obsA = await post(
    observation(id.a, {
      performer: [{ reference: `Practitioner/${id.drOne}` }],
      hasMember: [{ reference: `Observation/${id.obsB}` }],
    }),
  );
  // A second version of B's observation, for history.
  await server.api
    .put(`/Observation/${id.obsB}`)
    .send({
      ...observation(id.b, {
        code: SECRET,
        performer: [{ reference: `Practitioner/${id.drTwo}` }],
      }),
      id: id.obsB,
      status: 'amended',
    })
    .expect(200);
  id.condA = await post({
    resourceType: 'Condition',
    subject: { reference: `Patient/${id.a}` },
    code: { text: 'asthma' },
  });
  id.encB = await post({
    resourceType: 'Encounter',
    status: 'finished',
    class: { code: 'AMB' },
    subject: { reference: `Patient/${id.b}` },
  });
  id.obsC = await post(observation(id.c));
  // In the compartments of A (subject) and B (performer): visible only to who may see both.
  id.obsAFocus = await post(observation(id.a, { performer: [{ reference: `Patient/${id.b}` }] }));

  grantA = await world.grant(
    consentFor(id.a, {
      type: 'permit',
      actor: [recipient(`Practitioner/${id.drOne}`)],
      class: classes('Patient', 'Observation'),
      purpose: purposes('TREAT'),
    }),
  );
  asDrOne = await world.token({
    sub: 'dr-one',
    scope: 'user/*.rs',
    fhirUser: `${server.base}/Practitioner/${id.drOne}`,
    purpose_of_use: 'TREAT',
  });
  asDrOneResearch = await world.token({
    sub: 'dr-one',
    scope: 'user/*.rs',
    fhirUser: `Practitioner/${id.drOne}`,
    purpose_of_use: 'HRESCH',
  });
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (!chainStopped) await chain?.stop();
});

describe('decisions on chain', () => {
  it('a grant lets the practitioner read that patient, for the granted classes only', async () => {
    await world.get(`/Patient/${id.a}`, asDrOne).expect(200);
    const obs = await world.get(`/Observation/${id.obsA}`, asDrOne).expect(200);
    expect(obs.body.id).toBe(id.obsA);
    // Class not granted (Condition), patient without consent (B): 404, as if absent.
    await world.get(`/Condition/${id.condA}`, asDrOne).expect(404);
    await world.get(`/Patient/${id.b}`, asDrOne).expect(404);
    await world.get(`/Observation/${id.obsB}`, asDrOne).expect(404);
    // Not patient data: no consent needed.
    await world.get(`/Practitioner/${id.drTwo}`, asDrOne).expect(200);
  });

  it('the decision is recorded with its basis, the deciding grants and the block', async () => {
    const permit = await world.recordOf(
      await world.get(`/Observation/${id.obsA}`, asDrOne).expect(200),
    );
    const deny = await world.recordOf(
      await world.get(`/Observation/${id.obsB}`, asDrOne).expect(404),
    );
    const permitted = [...permit!.decisions.values()];
    expect(permitted).toEqual([
      expect.objectContaining({
        patient: `Patient/${id.a}`,
        resourceType: 'Observation',
        permitted: true,
        basis: 'grant',
        grants: grantA.map((g) => g.toLowerCase()),
      }),
    ]);
    expect(permitted[0]!.block).toBeGreaterThan(0n);
    expect(permit!.returned).toEqual([`Observation/${id.obsA}/_history/1`]);
    expect([...deny!.decisions.values()]).toEqual([
      expect.objectContaining({ patient: `Patient/${id.b}`, permitted: false, basis: 'no-grant' }),
    ]);
    expect(deny!.returned).toEqual([]);
  });

  it('a wrong purpose of use, or an unknown one, is denied', async () => {
    await world.get(`/Observation/${id.obsA}`, asDrOneResearch).expect(404);
    const unknown = await world.token({
      sub: 'dr-one',
      scope: 'user/*.rs',
      fhirUser: `Practitioner/${id.drOne}`,
      purpose_of_use: 'NOT-A-PURPOSE',
    });
    await world.get(`/Observation/${id.obsA}`, unknown).expect(404);
  });

  it('another practitioner gets nothing from a grant naming Dr One', async () => {
    const asDrTwo = await world.token({
      sub: 'dr-two',
      scope: 'user/*.rs',
      fhirUser: `Practitioner/${id.drTwo}`,
    });
    await world.get(`/Observation/${id.obsA}`, asDrTwo).expect(404);
  });

  it('a deny provision beats a permit, and revoking the deny restores access', async () => {
    const deny = await world.grant(
      consentFor(id.a, {
        type: 'deny',
        actor: [recipient(`Practitioner/${id.drOne}`)],
        class: classes('Observation'),
      }),
    );
    await world.get(`/Observation/${id.obsA}`, asDrOne).expect(404);
    await world.get(`/Patient/${id.a}`, asDrOne).expect(200);
    await world.revoke(deny);
    await world.get(`/Observation/${id.obsA}`, asDrOne).expect(200);
  });

  it('an expired period grants nothing; a current one does', async () => {
    await world.grant(
      consentFor(id.c, {
        type: 'permit',
        period: { start: '2020-01-01', end: '2020-12-31' },
        actor: [recipient(`Practitioner/${id.drOne}`)],
      }),
    );
    await world.get(`/Observation/${id.obsC}`, asDrOne).expect(404);
  });

  it('the patient reads its own data without any grant, and nobody else’s', async () => {
    const asPatientB = await world.token({
      sub: 'patient-b',
      scope: 'patient/*.rs',
      patient: id.b,
    });
    await world.get(`/Observation/${id.obsB}`, asPatientB).expect(200);
    await world.get(`/Encounter/${id.encB}`, asPatientB).expect(200);
    const search = await world.get('/Observation?_total=accurate', asPatientB).expect(200);
    expect(refs(search.body)).toEqual([`Observation/${id.obsB}`]);
  });

  it('a user token with a Patient fhirUser is that patient too', async () => {
    const asB = await world.token({
      sub: 'patient-b',
      scope: 'user/*.rs',
      fhirUser: `Patient/${id.b}`,
    });
    await world.get(`/Observation/${id.obsB}`, asB).expect(200);
    await world.get(`/Observation/${id.obsA}`, asB).expect(404);
  });

  it('a custodian client is permitted by policy, and that policy is recorded', async () => {
    const res = await server.api.get('/Observation?_total=accurate').expect(200);
    expect(res.body.total).toBe(4);
    const decisions = [...(await world.recordOf(res))!.decisions.values()];
    expect(new Set(decisions.map((d) => d.basis))).toEqual(new Set(['custodian']));
    expect(decisions.map((d) => d.patient).sort()).toEqual(
      [`Patient/${id.a}`, `Patient/${id.b}`, `Patient/${id.c}`].sort(),
    );
  });

  it('break-the-glass needs its scope and an emergency purpose, and is flagged', async () => {
    const glass = (purpose: string, scope = `user/*.rs ${BREAK_THE_GLASS_SCOPE}`) =>
      world.token({
        sub: 'dr-two',
        scope,
        fhirUser: `Practitioner/${id.drTwo}`,
        purpose_of_use: purpose,
      });
    await world.get(`/Observation/${id.obsB}`, await glass('TREAT')).expect(404);
    await world.get(`/Observation/${id.obsB}`, await glass('ETREAT', 'user/*.rs')).expect(404);
    const res = await world.get(`/Observation/${id.obsB}`, await glass('ETREAT')).expect(200);
    const decisions = [...(await world.recordOf(res))!.decisions.values()];
    expect(decisions).toEqual([
      expect.objectContaining({
        patient: `Patient/${id.b}`,
        permitted: true,
        basis: 'break-the-glass',
      }),
    ]);
  });
});

describe('leak battery: Dr One, without consent for patient B, learns nothing about B', () => {
  const search = async (query: string) => (await world.get(query, asDrOne).expect(200)).body;

  it('search results and totals', async () => {
    const all = await search('/Observation?_total=accurate');
    expect(refs(all)).toEqual([`Observation/${id.obsA}`]);
    expect(all.total).toBe(1);
    const targeted = await search(`/Observation?subject=Patient/${id.b}&_total=accurate`);
    expect(targeted.total).toBe(0);
    expect(targeted.entry ?? []).toEqual([]);
    const counted = await search(`/Observation?subject=Patient/${id.b}&_summary=count`);
    expect(counted.total).toBe(0);
    const byName = await search('/Patient?name=Bravo&_total=accurate');
    expect(byName.total).toBe(0);
    // The same query from the custodian finds B: the assertions above can fail.
    const custodian = await server.api.get('/Patient?name=Bravo&_total=accurate').expect(200);
    expect(custodian.body.total).toBe(1);
  });

  it('_include and _revinclude', async () => {
    const included = await search(
      '/Observation?_include=Observation:subject&_include=Observation:has-member',
    );
    expect(refs(included)).toEqual([`Observation/${id.obsA}`, `Patient/${id.a}`].sort());
    const rev = await search(
      `/Practitioner?_id=${id.drOne},${id.drTwo}&_revinclude=Observation:performer`,
    );
    expect(refs(rev)).toEqual(
      [`Observation/${id.obsA}`, `Practitioner/${id.drOne}`, `Practitioner/${id.drTwo}`].sort(),
    );
    const wildcard = await search(`/Patient?_revinclude=*&_include=*`);
    expect(JSON.stringify(wildcard)).not.toContain(id.b);
  });

  it('a resource naming two patients needs both', async () => {
    await world.get(`/Observation/${id.obsAFocus}`, asDrOne).expect(404);
    await server.api.get(`/Observation/${id.obsAFocus}`).expect(200);
  });

  it('chained search and _has', async () => {
    // Dr One may see obsA, which has B's observation as a member: a chain on the member's
    // code would say what B's observation is.
    const chained = await search('/Observation?has-member.code=99999-9&_total=accurate');
    expect(chained.total).toBe(0);
    const byName = await search('/Observation?subject:Patient.name=Bravo&_total=accurate');
    expect(byName.total).toBe(0);
    // Practitioners are not patient data: _has over B's observation would say who treated B.
    const has = await search(
      '/Practitioner?_has:Observation:performer:code=99999-9&_total=accurate',
    );
    expect(has.total).toBe(0);
    const hasPatient = await search('/Patient?_has:Observation:subject:code=99999-9');
    expect(hasPatient.entry ?? []).toEqual([]);
    // The custodian sees the joins: the same queries are not empty by construction.
    const asCustodian = async (q: string) => (await server.api.get(q).expect(200)).body.total;
    expect(await asCustodian('/Observation?has-member.code=99999-9&_total=accurate')).toBe(1);
    expect(await asCustodian('/Practitioner?_has:Observation:performer:code=99999-9')).toBe(1);
    // A visible join still works: obsA's member chain on A's own data.
    const own = await search(`/Practitioner?_has:Observation:performer:subject=Patient/${id.a}`);
    expect(refs(own)).toEqual([`Practitioner/${id.drOne}`]);
  });

  it('history: instance, type and system', async () => {
    await world.get(`/Observation/${id.obsB}/_history`, asDrOne).expect(404);
    await world.get(`/Observation/${id.obsB}/_history/1`, asDrOne).expect(404);
    const type = await search('/Observation/_history');
    expect(refs(type)).toEqual([`Observation/${id.obsA}`]);
    expect(type.total).toBeUndefined();
    const system = await search('/_history?_count=1000');
    expect(JSON.stringify(system)).not.toContain(id.b);
    expect(refs(system)).not.toContain(`Observation/${id.obsB}`);
    expect(refs(system)).toContain(`Patient/${id.a}`);
  });

  it('paging links lead nowhere near hidden data', async () => {
    const page = await search('/Observation?_count=1');
    expect(refs(page)).toEqual([`Observation/${id.obsA}`]);
    expect(page.link.map((l: { relation: string }) => l.relation)).toEqual(['self']);
    const history = await search('/Observation/_history?_count=1');
    expect(refs(history)).toEqual([`Observation/${id.obsA}`]);
    expect(history.link.map((l: { relation: string }) => l.relation)).not.toContain('next');
  });

  it('batch GET entries and $verify', async () => {
    const res = await request(server.base)
      .post('/')
      .set(bearer(asDrOne))
      .send({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Observation/${id.obsB}` } },
          { request: { method: 'GET', url: `Observation?subject=Patient/${id.b}` } },
          { request: { method: 'GET', url: `Observation/${id.obsA}` } },
        ],
      })
      .expect(200);
    const [hidden, searched, shown] = res.body.entry;
    expect(hidden.response.status).toMatch(/^404/);
    expect(searched.resource.total).toBe(0);
    expect(shown.resource.id).toBe(id.obsA);
    await world.get(`/Observation/${id.obsB}/_history/1/$verify`, asDrOne).expect(404);
  });
});

describe('writes need the write action', () => {
  const write = (token: string, resource: Record<string, unknown>) =>
    request(server.base)
      .post(`/${resource.resourceType}`)
      .set(bearer(token))
      .set('Content-Type', 'application/fhir+json')
      .send(resource);
  const count = async (patient: string) =>
    (await server.api.get(`/Observation?subject=Patient/${patient}&_summary=count`).expect(200))
      .body.total as number;

  it('a grant without an action permits writing; none, or a read-only one, does not', async () => {
    const asWriter = await world.token({
      sub: 'dr-one',
      scope: 'user/*.cruds',
      fhirUser: `Practitioner/${id.drOne}`,
    });
    await write(asWriter, observation(id.a)).expect(201);
    const before = await count(id.b);
    const refusedB = await write(asWriter, observation(id.b)).expect(403);
    expect(refusedB.body.resourceType).toBe('OperationOutcome');
    expect(await count(id.b)).toBe(before);

    await world.grant(
      consentFor(id.c, {
        type: 'permit',
        actor: [recipient(`Practitioner/${id.drOne}`)],
        action: [
          {
            coding: [
              { system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'access' },
            ],
          },
        ],
      }),
    );
    await world.get(`/Observation/${id.obsC}`, asWriter).expect(200);
    await write(asWriter, observation(id.c)).expect(403);
    // Moving A's observation into C's record writes into both.
    const moved = { ...observation(id.c), id: id.obsA };
    await request(server.base)
      .put(`/Observation/${id.obsA}`)
      .set(bearer(asWriter))
      .send(moved)
      .expect(403);
  });

  it('PATCH: the granted record is patched; a hidden one is a 404, a read-only grant a 403', async () => {
    const asWriter = await world.token({
      sub: 'dr-one',
      scope: 'user/*.cruds',
      fhirUser: `Practitioner/${id.drOne}`,
    });
    const patch = (path: string, ops: object[]) =>
      request(server.base)
        .patch(path)
        .set(bearer(asWriter))
        .set('Content-Type', 'application/json-patch+json')
        .send(JSON.stringify(ops));
    const ofA = await post(observation(id.a));
    const ofC = await post(observation(id.c));
    const amend = [{ op: 'replace', path: '/status', value: 'amended' }];
    const patched = await patch(`/Observation/${ofA}`, amend).expect(200);
    expect(patched.body.status).toBe('amended');
    // B granted nothing: B's record is not found, even by a test op that would tell its content.
    await patch(`/Observation/${id.obsB}`, [
      { op: 'test', path: '/status', value: 'amended' },
    ]).expect(404);
    // C granted read access only (previous test): visible, but the write is refused.
    const refused = await patch(`/Observation/${ofC}`, amend).expect(403);
    expect(refused.body.resourceType).toBe('OperationOutcome');
    const versions = async (ref: string) =>
      (await server.api.get(`/${ref}`).expect(200)).body.meta.versionId;
    expect(await versions(`Observation/${ofC}`)).toBe('1');
    expect(await versions(`Observation/${id.obsB}`)).toBe('2');
  });

  it('a patient writes into its own record without a grant', async () => {
    const asPatientB = await world.token({
      sub: 'patient-b',
      scope: 'patient/*.cruds',
      patient: id.b,
    });
    await write(asPatientB, observation(id.b)).expect(201);
  });
});

describe('revocation', () => {
  it('denies on the first request once the revoking block is mirrored', async () => {
    await world.get(`/Observation/${id.obsA}`, asDrOne).expect(200);
    await world.revoke(grantA);
    await world.get(`/Observation/${id.obsA}`, asDrOne).expect(404);
    await world.get(`/Patient/${id.a}`, asDrOne).expect(404);
  });
});

// Last: stops the chain.
describe('fail closed', () => {
  it('with the chain stopped, patient data is 503 for grantees; policies still hold', async () => {
    grantA = await world.grant(
      consentFor(id.a, {
        type: 'permit',
        actor: [recipient(`Practitioner/${id.drOne}`)],
      }),
      2,
    );
    await world.get(`/Observation/${id.obsA}`, asDrOne).expect(200);
    await chain.stop();
    chainStopped = true;
    await waitFor(
      'the mirror to give up',
      async () => (await world.get(`/Observation/${id.obsA}`, asDrOne)).status === 503,
      20_000,
    );
    for (const path of [
      '/Observation',
      `/Patient/${id.a}`,
      '/Observation/_history',
      `/Patient?_has:Observation:subject:code=99999-9`,
    ]) {
      const res = await world.get(path, asDrOne).expect(503);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(res.body)).not.toContain(id.obsA);
    }
    // Own records and custodians do not depend on the chain.
    const asPatientA = await world.token({
      sub: 'patient-a',
      scope: 'patient/*.rs',
      patient: id.a,
    });
    await world.get(`/Observation/${id.obsA}`, asPatientA).expect(200);
    await server.api.get(`/Observation/${id.obsA}`).expect(200);
  });
});
