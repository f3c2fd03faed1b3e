import type { Patient } from 'fhir/r4.js';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.js';

const FHIR_JSON = 'application/fhir+json';
let server: TestServer;
let api: TestServer['api'];

beforeAll(async () => {
  server = await startTestServer();
  api = server.api;
});
afterAll(() => server?.close());

const patient = (extra: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  name: [{ family: 'Chalmers', given: ['Peter'] }],
  gender: 'male',
  birthDate: '1974-12-25',
  ...extra,
});

async function create(body: object = patient()) {
  const res = await api.post('/Patient').set('Content-Type', FHIR_JSON).send(body).expect(201);
  return res.body as Patient & { id: string };
}

describe('create', () => {
  it('assigns an id and version 1, and answers with Location, ETag and Last-Modified', async () => {
    const res = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send(patient({ id: 'client-id' }))
      .expect(201);
    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.id).not.toBe('client-id');
    expect(res.body.meta.versionId).toBe('1');
    expect(res.headers.etag).toBe('W/"1"');
    expect(res.headers.location).toBe(`${server.base}/Patient/${res.body.id}/_history/1`);
    expect(new Date(res.headers['last-modified']!).getTime()).toBe(
      Math.floor(new Date(res.body.meta.lastUpdated).getTime() / 1000) * 1000,
    );
    expect(res.body.name).toEqual([{ family: 'Chalmers', given: ['Peter'] }]);
  });

  it('accepts application/json as well as application/fhir+json', async () => {
    await api.post('/Patient').set('Content-Type', 'application/json').send(patient()).expect(201);
  });

  it('honours Prefer: return=minimal, representation and OperationOutcome', async () => {
    const minimal = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .set('Prefer', 'return=minimal')
      .send(patient())
      .expect(201);
    expect(minimal.text).toBe('');
    expect(minimal.headers.location).toMatch(/\/Patient\/[^/]+\/_history\/1$/);
    const rep = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .set('Prefer', 'return=representation')
      .send(patient())
      .expect(201);
    expect(rep.body.resourceType).toBe('Patient');
    const oo = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .set('Prefer', 'return=OperationOutcome')
      .send(patient())
      .expect(201);
    expect(oo.body.resourceType).toBe('OperationOutcome');
    expect(oo.body.issue[0].severity).toBe('information');
  });

  it('rejects a body whose resourceType differs from the URL', async () => {
    const res = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Observation' })
      .expect(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toMatch(/does not match/);
  });
});

describe('conditional create (If-None-Exist)', () => {
  it('creates once, then returns the match without a new resource', async () => {
    const body = patient({
      identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: 'MRN-777' }],
    });
    const first = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .set('If-None-Exist', 'identifier=urn:oid:1.2.36.146.595.217.0.1|MRN-777')
      .send(body)
      .expect(201);
    const second = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .set('If-None-Exist', 'identifier=urn:oid:1.2.36.146.595.217.0.1|MRN-777')
      .send(body)
      .expect(200);
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.meta.versionId).toBe('1');
  });

  it('matches on code alone, |code and system|', async () => {
    const body = patient({ identifier: [{ system: 'urn:sys:a', value: 'v-1' }] });
    const { id } = await create(body);
    for (const query of [
      'identifier=v-1',
      'identifier=urn:sys:a|',
      `_id=${id}`,
      `identifier=urn:sys:a|v-1&_id=${id}`,
    ]) {
      const res = await api
        .post('/Patient')
        .set('Content-Type', FHIR_JSON)
        .set('If-None-Exist', query)
        .send(body)
        .expect(200);
      expect(res.body.id).toBe(id);
    }
    await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .set('If-None-Exist', 'identifier=|v-1')
      .send(body)
      .expect(201);
  });

  it('answers 412 when several resources match', async () => {
    const body = patient({ identifier: [{ system: 'urn:dup', value: 'same' }] });
    await create(body);
    await create(body);
    const res = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .set('If-None-Exist', 'identifier=urn:dup|same')
      .send(body)
      .expect(412);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('rejects criteria it cannot evaluate instead of ignoring them', async () => {
    const res = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .set('If-None-Exist', 'name=Chalmers&shoe-size=42')
      .send(patient())
      .expect(400);
    expect(res.body.issue[0].diagnostics).toMatch(/shoe-size/);
  });

  it('matches on any search parameter, e.g. name and birthdate', async () => {
    const body = patient({ name: [{ family: 'Zyx-Conditional' }], birthDate: '1961-02-03' });
    const { id } = await create(body);
    const res = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .set('If-None-Exist', 'name=zyx-conditional&birthdate=1961-02-03')
      .send(body)
      .expect(200);
    expect(res.body.id).toBe(id);
  });

  it('creates exactly one resource under concurrent identical requests', async () => {
    const body = patient({ identifier: [{ system: 'urn:race', value: 'r1' }] });
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        api
          .post('/Patient')
          .set('Content-Type', FHIR_JSON)
          .set('If-None-Exist', 'identifier=urn:race|r1')
          .send(body),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
  });
});

describe('read and vread', () => {
  it('reads the current version with ETag and Last-Modified', async () => {
    const created = await create();
    const res = await api.get(`/Patient/${created.id}`).expect(200);
    expect(res.body).toEqual(created);
    expect(Object.keys(res.body).slice(0, 3)).toEqual(['resourceType', 'id', 'meta']);
    expect(res.headers.etag).toBe('W/"1"');
    expect(res.headers['last-modified']).toBeDefined();
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const { id } = await create();
    await api.get(`/Patient/${id}`).set('If-None-Match', 'W/"1"').expect(304);
    await api.get(`/Patient/${id}`).set('If-None-Match', 'W/"9"').expect(200);
  });

  it('answers 404 for an unknown id and an unknown version', async () => {
    const { id } = await create();
    const res = await api.get('/Patient/does-not-exist').expect(404);
    expect(res.body.issue[0].code).toBe('not-found');
    await api.get(`/Patient/${id}/_history/2`).expect(404);
    await api.get(`/Patient/${id}/_history/abc`).expect(404);
  });

  it('reads every earlier version after updates', async () => {
    const { id } = await create();
    await api
      .put(`/Patient/${id}`)
      .set('Content-Type', FHIR_JSON)
      .send(patient({ id, gender: 'female' }))
      .expect(200);
    const v1 = await api.get(`/Patient/${id}/_history/1`).expect(200);
    const v2 = await api.get(`/Patient/${id}/_history/2`).expect(200);
    expect(v1.body.gender).toBe('male');
    expect(v2.body.gender).toBe('female');
    expect(v2.headers.etag).toBe('W/"2"');
  });

  it('honours _pretty and _format=json', async () => {
    const { id } = await create();
    const pretty = await api.get(`/Patient/${id}?_pretty=true&_format=json`).expect(200);
    expect(pretty.text).toContain('\n  "resourceType": "Patient"');
    const compact = await api.get(`/Patient/${id}?_format=application/fhir%2Bjson`).expect(200);
    expect(compact.text).not.toContain('\n');
  });
});

describe('update', () => {
  it('creates on update with a client id (201), then versions it (200)', async () => {
    const first = await api
      .put('/Patient/pat-client-1')
      .set('Content-Type', FHIR_JSON)
      .send(patient({ id: 'pat-client-1' }))
      .expect(201);
    expect(first.body.meta.versionId).toBe('1');
    expect(first.headers.location).toBe(`${server.base}/Patient/pat-client-1/_history/1`);
    const second = await api
      .put('/Patient/pat-client-1')
      .set('Content-Type', FHIR_JSON)
      .send(patient({ id: 'pat-client-1', active: true }))
      .expect(200);
    expect(second.body.meta.versionId).toBe('2');
    expect(second.headers.etag).toBe('W/"2"');
  });

  it('rejects an id mismatch or a missing id in the body', async () => {
    const mismatch = await api
      .put('/Patient/a1')
      .set('Content-Type', FHIR_JSON)
      .send(patient({ id: 'b2' }))
      .expect(400);
    expect(mismatch.body.issue[0].diagnostics).toMatch(/does not match/);
    await api.put('/Patient/a1').set('Content-Type', FHIR_JSON).send(patient()).expect(400);
    await api.get('/Patient/a1').expect(404);
  });

  it('rejects an invalid client id', async () => {
    const res = await api
      .put('/Patient/bad%20id!')
      .set('Content-Type', FHIR_JSON)
      .send(patient({ id: 'bad id!' }))
      .expect(400);
    expect(
      res.body.issue.some((i: { expression?: string[] }) => i.expression?.[0] === 'Patient.id'),
    ).toBe(true);
  });

  it('applies If-Match: a stale version is a 412 and stores nothing', async () => {
    const { id } = await create();
    await api
      .put(`/Patient/${id}`)
      .set('Content-Type', FHIR_JSON)
      .set('If-Match', 'W/"1"')
      .send(patient({ id, active: true }))
      .expect(200);
    const stale = await api
      .put(`/Patient/${id}`)
      .set('Content-Type', FHIR_JSON)
      .set('If-Match', 'W/"1"')
      .send(patient({ id, active: false }))
      .expect(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');
    const current = await api.get(`/Patient/${id}`).expect(200);
    expect(current.body.meta.versionId).toBe('2');
    expect(current.body.active).toBe(true);
    await api
      .put(`/Patient/${id}`)
      .set('Content-Type', FHIR_JSON)
      .set('If-Match', 'garbage')
      .send(patient({ id }))
      .expect(400);
  });

  it('lets exactly one of several concurrent If-Match updates win', async () => {
    const { id } = await create();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        api
          .put(`/Patient/${id}`)
          .set('Content-Type', FHIR_JSON)
          .set('If-Match', 'W/"1"')
          .send(patient({ id, birthDate: `200${i}-01-01` })),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 412, 412, 412, 412, 412]);
    const history = await api.get(`/Patient/${id}/_history`).expect(200);
    expect(history.body.total).toBe(2);
  });
});

describe('delete', () => {
  it('deletes: read is 410, history keeps a tombstone, vread of old versions works', async () => {
    const { id } = await create();
    const del = await api.delete(`/Patient/${id}`).expect(204);
    expect(del.headers.etag).toBe('W/"2"');
    const gone = await api.get(`/Patient/${id}`).expect(410);
    expect(gone.body.issue[0].code).toBe('deleted');
    await api.get(`/Patient/${id}/_history/1`).expect(200);
    await api.get(`/Patient/${id}/_history/2`).expect(410);
    const history = await api.get(`/Patient/${id}/_history`).expect(200);
    expect(history.body.entry[0].request).toEqual({ method: 'DELETE', url: `Patient/${id}` });
    expect(history.body.entry[0].resource).toBeUndefined();
    expect(history.body.total).toBe(2);
  });

  it('is idempotent and can be re-created by update afterwards', async () => {
    const { id } = await create();
    await api.delete(`/Patient/${id}`).expect(204);
    await api.delete(`/Patient/${id}`).expect(204);
    await api.delete('/Patient/never-existed').expect(204);
    const again = await api
      .put(`/Patient/${id}`)
      .set('Content-Type', FHIR_JSON)
      .send(patient({ id }))
      .expect(201);
    expect(again.body.meta.versionId).toBe('3');
  });

  it('applies If-Match and can answer with an OperationOutcome', async () => {
    const { id } = await create();
    await api.delete(`/Patient/${id}`).set('If-Match', 'W/"7"').expect(412);
    const res = await api
      .delete(`/Patient/${id}`)
      .set('If-Match', 'W/"1"')
      .set('Prefer', 'return=OperationOutcome')
      .expect(200);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });
});

describe('history', () => {
  it('pages instance history newest first with stable next links', async () => {
    const { id } = await create();
    for (let i = 0; i < 4; i++) {
      await api
        .put(`/Patient/${id}`)
        .set('Content-Type', FHIR_JSON)
        .send(patient({ id, birthDate: `199${i}-01-01` }))
        .expect(200);
    }
    const page1 = await api.get(`/Patient/${id}/_history?_count=2`).expect(200);
    expect(page1.body.type).toBe('history');
    expect(page1.body.total).toBe(5);
    expect(page1.body.entry.map((e: { resource: Patient }) => e.resource.meta?.versionId)).toEqual([
      '5',
      '4',
    ]);
    const next = page1.body.link.find((l: { relation: string }) => l.relation === 'next')
      .url as string;
    // A write between pages must not shift the next page.
    await api
      .put(`/Patient/${id}`)
      .set('Content-Type', FHIR_JSON)
      .send(patient({ id }))
      .expect(200);
    const page2 = await request(next).get('').set(auth()).expect(200);
    expect(page2.body.entry.map((e: { resource: Patient }) => e.resource.meta?.versionId)).toEqual([
      '3',
      '2',
    ]);
    const page3 = await request(
      page2.body.link.find((l: { relation: string }) => l.relation === 'next').url,
    )
      .get('')
      .set(auth())
      .expect(200);
    expect(page3.body.entry.map((e: { resource: Patient }) => e.resource.meta?.versionId)).toEqual([
      '1',
    ]);
    expect(page3.body.link.some((l: { relation: string }) => l.relation === 'next')).toBe(false);
    expect(page3.body.entry[0].request).toEqual({ method: 'POST', url: 'Patient' });
  });

  it('lists type and system history, filtered by _since', async () => {
    const before = new Date().toISOString();
    const obs = await api
      .post('/Observation')
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Observation', status: 'final', code: { text: 'weight' } })
      .expect(201);
    const type = await api.get(`/Observation/_history?_since=${before}`).expect(200);
    expect(type.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual([
      obs.body.id,
    ]);
    const system = await api.get(`/_history?_since=${before}`).expect(200);
    expect(
      system.body.entry.some((e: { resource: { id: string } }) => e.resource.id === obs.body.id),
    ).toBe(true);
    const all = await api.get('/_history').expect(200);
    expect(all.body.total).toBeGreaterThan(type.body.total);
  });

  it('rejects malformed history parameters and unknown resources', async () => {
    await api.get('/Patient/_history?_since=yesterday').expect(400);
    await api.get('/Patient/_history?_count=-1').expect(400);
    await api.get('/Patient/_history?_at=2020').expect(400);
    await api.get('/Patient/nope/_history').expect(404);
  });
});

describe('errors are OperationOutcomes with the right status', () => {
  it('400 for malformed JSON', async () => {
    const res = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send('{"resourceType": "Patient",')
      .expect(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('400 for a body that is not an object', async () => {
    await api.post('/Patient').set('Content-Type', FHIR_JSON).send('[1,2]').expect(400);
    await api.post('/Patient').set('Content-Type', FHIR_JSON).send('"text"').expect(400);
  });

  it('413 for a body over the size limit', async () => {
    const big = patient({
      text: {
        status: 'generated',
        div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(2 * 1024 * 1024)}</div>`,
      },
    });
    const res = await api.post('/Patient').set('Content-Type', FHIR_JSON).send(big).expect(413);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('415 for an unsupported content type, 406 for an unsupported format', async () => {
    await api
      .post('/Patient')
      .set('Content-Type', 'application/fhir+xml')
      .send('<Patient/>')
      .expect(415);
    await api.post('/Patient').set('Content-Type', 'text/plain').send('hello').expect(415);
    const xml = await api.get('/metadata').set('Accept', 'application/fhir+xml').expect(406);
    expect(xml.body.resourceType).toBe('OperationOutcome');
    await api.get('/metadata?_format=xml').expect(406);
    await api.get('/metadata').set('Accept', 'text/html, application/fhir+json;q=0.9').expect(200);
  });

  it('404 for an unknown resource type, 405 for an unsupported method', async () => {
    const unknown = await api.get('/Unicorn/1').expect(404);
    expect(unknown.body.issue[0].diagnostics).toMatch(/Unknown resource type/);
    await api
      .post('/Unicorn')
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Unicorn' })
      .expect(404);
    await api.get('/patient/1').expect(404);
    const method = await api
      .post('/Patient/123')
      .set('Content-Type', FHIR_JSON)
      .send(patient())
      .expect(405);
    expect(method.body.resourceType).toBe('OperationOutcome');
    await api.put('/Patient').set('Content-Type', FHIR_JSON).send(patient()).expect(405);
  });
});

const auth = () => ({ Authorization: `Bearer ${server.token}` });
