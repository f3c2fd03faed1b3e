import jose from 'node-jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { bearer, externalToken } from './auth-helpers.js';

const ISSUER = 'https://ehr.example.org/oauth';
let server: TestServer;
let idpKey: jose.JWK.Key;
let mine: string;
let theirs: string;
let asPatient: string;

const LAB = {
  coding: [
    { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' },
  ],
};
const VITALS = {
  coding: [
    { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' },
  ],
};

beforeAll(async () => {
  idpKey = await jose.JWK.createKey('RSA', 2048, { alg: 'RS256', kid: 'ehr-1' });
  server = await startTestServer({}, undefined, {
    issuers: [{ issuer: ISSUER, jwks: { keys: [idpKey.toJSON()] } }],
  });
  const api = server.api;
  const practitioner = (await api.post('/Practitioner').send({ resourceType: 'Practitioner' })).body
    .id;
  mine = (await api.post('/Patient').send({ resourceType: 'Patient', name: [{ family: 'Mine' }] }))
    .body.id;
  theirs = (
    await api.post('/Patient').send({ resourceType: 'Patient', name: [{ family: 'Theirs' }] })
  ).body.id;
  for (const [patient, category] of [
    [mine, LAB],
    [mine, VITALS],
    [theirs, LAB],
  ] as const) {
    await api
      .post('/Observation')
      .send({
        resourceType: 'Observation',
        status: 'final',
        category: [category],
        code: { text: 'x' },
        subject: { reference: `Patient/${patient}` },
        performer: [{ reference: `Practitioner/${practitioner}` }],
      })
      .expect(201);
  }
  asPatient = await externalToken(idpKey, {
    iss: ISSUER,
    aud: server.base,
    sub: 'patient-user',
    client_id: 'patient-app',
    scope: 'launch/patient patient/Patient.rs patient/Observation.cruds patient/Practitioner.rs',
    patient: mine,
    fhirUser: `Patient/${mine}`,
    purpose_of_use: 'TREAT',
  });
});
afterAll(() => server?.close());

const get = (path: string, token = asPatient) => request(server.base).get(path).set(bearer(token));
const ids = (bundle: { entry?: Array<{ resource: { resourceType: string; id: string } }> }) =>
  (bundle.entry ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();

describe('a patient-context token (external issuer) sees only its patient', () => {
  it('reads its own Patient, not another one (direct read, vread, history)', async () => {
    await get(`/Patient/${mine}`).expect(200);
    await get(`/Patient/${theirs}`).expect(404);
    await get(`/Patient/${theirs}/_history/1`).expect(404);
    // Like a read: an empty history would confirm that the other patient exists.
    await get(`/Patient/${theirs}/_history`).expect(404);
    const typeHistory = await get('/Observation/_history').expect(200);
    expect(typeHistory.body.entry).toHaveLength(2);
  });

  it('search: matches and totals only from its compartment', async () => {
    const patients = await get('/Patient?_total=accurate').expect(200);
    expect(ids(patients.body)).toEqual([`Patient/${mine}`]);
    expect(patients.body.total).toBe(1);
    const obs = await get('/Observation').expect(200);
    expect(obs.body.entry).toHaveLength(2);
    const targeted = await get(`/Observation?subject=Patient/${theirs}`).expect(200);
    expect(targeted.body.entry ?? []).toEqual([]);
  });

  it('chained search and _has do not reach the other patient', async () => {
    const chained = await get('/Observation?subject:Patient.family=Theirs').expect(200);
    expect(chained.body.entry ?? []).toEqual([]);
    const has = await get('/Patient?_has:Observation:subject:status=final').expect(200);
    expect(ids(has.body)).toEqual([`Patient/${mine}`]);
  });

  it('_include and _revinclude bring nothing of the other patient', async () => {
    const inc = await get('/Observation?_include=Observation:subject').expect(200);
    expect(ids(inc.body).filter((i) => i.startsWith('Patient/'))).toEqual([`Patient/${mine}`]);
    const rev = await get(`/Patient?_id=${mine},${theirs}&_revinclude=Observation:subject`).expect(
      200,
    );
    expect(ids(rev.body).filter((i) => i.startsWith('Observation/'))).toHaveLength(2);
    expect(ids(rev.body)).not.toContain(`Patient/${theirs}`);
  });

  it('batch GET entries are filtered the same way', async () => {
    const res = await request(server.base)
      .post('/')
      .set(bearer(asPatient))
      .send({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Patient/${mine}` } },
          { request: { method: 'GET', url: `Patient/${theirs}` } },
          { request: { method: 'GET', url: 'Encounter' } },
        ],
      })
      .expect(200);
    expect(
      res.body.entry.map((e: { response: { status: string } }) => e.response.status.slice(0, 3)),
    ).toEqual(['200', '404', '403']);
  });

  it('cannot write into another patient compartment', async () => {
    const obs = (subject: string) => ({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'self-reported' },
      subject: { reference: `Patient/${subject}` },
    });
    await request(server.base)
      .post('/Observation')
      .set(bearer(asPatient))
      .send(obs(mine))
      .expect(201);
    await request(server.base)
      .post('/Observation')
      .set(bearer(asPatient))
      .send(obs(theirs))
      .expect(403);
    const count = await server.api.get(`/Observation?subject=Patient/${theirs}&_summary=count`);
    expect(count.body.total).toBe(1);
  });

  it('types outside the compartment are readable; types not in scope are 403', async () => {
    const res = await get('/Practitioner').expect(200);
    expect(res.body.entry).toHaveLength(1);
    await get('/Encounter').expect(403);
  });
});

describe('granular v2 scopes and other token shapes', () => {
  it('patient/Observation.rs?category=laboratory hides other categories', async () => {
    const lab = await externalToken(idpKey, {
      iss: ISSUER,
      aud: server.base,
      sub: 'lab-app',
      scope: 'patient/Observation.rs?category=laboratory',
      patient: mine,
    });
    const res = await get('/Observation', lab).expect(200);
    expect(res.body.entry).toHaveLength(1);
    expect(res.body.entry[0].resource.category[0].coding[0].code).toBe('laboratory');
  });

  it('a patient/ scope without a patient context grants nothing', async () => {
    const noContext = await externalToken(idpKey, {
      iss: ISSUER,
      aud: server.base,
      sub: 'x',
      scope: 'patient/*.rs',
    });
    await get('/Patient', noContext).expect(403);
  });

  it('an external token for another audience is refused', async () => {
    const other = await externalToken(idpKey, {
      iss: ISSUER,
      aud: 'https://other.example.org/fhir',
      sub: 'x',
      scope: 'user/*.rs',
    });
    await get('/Patient', other).expect(401);
  });

  it('user/*.rs from the issuer reads everything, writes nothing', async () => {
    const user = await externalToken(idpKey, {
      iss: ISSUER,
      aud: server.base,
      sub: 'dr-who',
      scope: 'openid fhirUser user/*.rs',
      fhirUser: 'Practitioner/1',
    });
    const res = await get('/Patient', user).expect(200);
    expect(res.body.entry).toHaveLength(2);
    await request(server.base)
      .post('/Patient')
      .set(bearer(user))
      .send({ resourceType: 'Patient' })
      .expect(403);
  });
});

describe('PATCH with a patient-context token', () => {
  const patch = (path: string, ops: object[]) =>
    request(server.base)
      .patch(path)
      .set(bearer(asPatient))
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify(ops));
  const observationOf = async (patient: string) =>
    (
      await server.api
        .get(`/Observation?subject=Patient/${patient}&category=laboratory`)
        .expect(200)
    ).body.entry[0].resource.id as string;

  it('patches its own record, never another patient’s (hidden: 404) nor into it (403)', async () => {
    const own = await observationOf(mine);
    const other = await observationOf(theirs);
    const ok = await patch(`/Observation/${own}`, [
      { op: 'replace', path: '/status', value: 'amended' },
    ]).expect(200);
    expect(ok.body.status).toBe('amended');
    // A hidden record is not found, even by a `test` op that would tell its content.
    await patch(`/Observation/${other}`, [{ op: 'test', path: '/status', value: 'final' }]).expect(
      404,
    );
    // Moving its own record into another patient's compartment is a write there: refused.
    await patch(`/Observation/${own}`, [
      { op: 'replace', path: '/subject/reference', value: `Patient/${theirs}` },
    ]).expect(403);
    // patient/Patient.rs has no u: its own Patient cannot be patched.
    await patch(`/Patient/${mine}`, [{ op: 'add', path: '/active', value: true }]).expect(403);
    const stored = await server.api.get(`/Observation/${own}`).expect(200);
    expect(stored.body.meta.versionId).toBe('2');
    expect(stored.body.subject.reference).toBe(`Patient/${mine}`);
    expect((await server.api.get(`/Observation/${other}`).expect(200)).body.meta.versionId).toBe(
      '1',
    );
  });
});
