import type { Bundle, Patient } from 'fhir/r4.js';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, getToken, makeClient } from '../auth/auth-helpers.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

/**
 * PATCH with a JSON Patch (RFC 6902): instance and conditional, If-Match, Prefer, what is
 * refused (and that nothing is stored then), history, Provenance, SMART scopes, and PATCH
 * entries (a Binary) in transaction and batch Bundles.
 */
const FHIR_JSON = 'application/fhir+json';
const JSON_PATCH = 'application/json-patch+json';
type Op = { op: string; path: string; value?: unknown; from?: string };

let server: TestServer;
let api: TestServer['api'];
let readOnly: string;

beforeAll(async () => {
  const client = await makeClient('read-only-client');
  server = await startTestServer({}, undefined, {
    clients: [{ clientId: client.clientId, jwks: client.jwks, scope: 'system/Patient.rs' }],
  });
  api = server.api;
  readOnly = await getToken(server.base, client, 'system/Patient.rs');
});
afterAll(() => server?.close());

const patient = (extra: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  active: true,
  name: [{ family: 'Chalmers', given: ['Peter'] }],
  gender: 'male',
  birthDate: '1974-12-25',
  ...extra,
});

async function create(body: Patient = patient()): Promise<string> {
  const res = await api.post('/Patient').set('Content-Type', FHIR_JSON).send(body).expect(201);
  return res.body.id as string;
}

function patch(path: string, ops: unknown, headers: Record<string, string> = {}) {
  return api.patch(path).set('Content-Type', JSON_PATCH).set(headers).send(JSON.stringify(ops));
}

async function current(id: string): Promise<Patient> {
  return (await api.get(`/Patient/${id}`).expect(200)).body as Patient;
}

const binary = (ops: Op[]) => ({
  resourceType: 'Binary',
  contentType: JSON_PATCH,
  data: Buffer.from(JSON.stringify(ops)).toString('base64'),
});

describe('PATCH [type]/[id] with a JSON Patch', () => {
  it('applies add, replace, remove and test to the current version and answers the new one', async () => {
    const id = await create();
    const res = await patch(`/Patient/${id}`, [
      { op: 'test', path: '/name/0/family', value: 'Chalmers' },
      { op: 'replace', path: '/name/0/family', value: 'Windsor' },
      { op: 'add', path: '/name/0/given/-', value: 'James' },
      { op: 'add', path: '/telecom', value: [{ system: 'phone', value: '555-1234' }] },
      { op: 'remove', path: '/birthDate' },
    ]).expect(200);
    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(res.headers.etag).toBe('W/"2"');
    expect(res.headers.location).toBe(`${server.base}/Patient/${id}/_history/2`);
    expect(new Date(res.headers['last-modified']!).getTime()).toBe(
      Math.floor(new Date(res.body.meta.lastUpdated).getTime() / 1000) * 1000,
    );
    expect(res.body).toMatchObject({
      resourceType: 'Patient',
      id,
      meta: { versionId: '2' },
      name: [{ family: 'Windsor', given: ['Peter', 'James'] }],
      telecom: [{ system: 'phone', value: '555-1234' }],
    });
    expect(res.body.birthDate).toBeUndefined();
    const stored = await current(id);
    expect(stored.name).toEqual([{ family: 'Windsor', given: ['Peter', 'James'] }]);
    expect(stored.birthDate).toBeUndefined();
    expect(stored.meta?.versionId).toBe('2');
    // The patched values are indexed like an update's.
    const found = await api.get('/Patient?family=windsor&phone=555-1234').expect(200);
    expect(found.body.entry.map((e: { resource: Patient }) => e.resource.id)).toEqual([id]);
  });

  it('history shows the patch as a PATCH version, and a Provenance records it as an update', async () => {
    const id = await create();
    await patch(`/Patient/${id}`, [{ op: 'replace', path: '/gender', value: 'female' }]).expect(
      200,
    );
    const history = (await api.get(`/Patient/${id}/_history`).expect(200)).body as Bundle;
    expect(history.total).toBe(2);
    expect(history.entry![0]!.request).toEqual({ method: 'PATCH', url: `Patient/${id}` });
    expect((history.entry![0]!.resource as Patient).gender).toBe('female');
    expect((history.entry![1]!.resource as Patient).gender).toBe('male');
    const v1 = await api.get(`/Patient/${id}/_history/1`).expect(200);
    expect(v1.body.gender).toBe('male');
    const provenance = await api.get(`/Provenance?target=Patient/${id}`).expect(200);
    const byVersion = new Map(
      provenance.body.entry.map((e: { resource: { target: Array<{ reference: string }> } }) => [
        e.resource.target[0]!.reference,
        e.resource,
      ]),
    );
    expect(byVersion.size).toBe(2);
    const ofPatch = byVersion.get(`Patient/${id}/_history/2`) as {
      activity: { coding: Array<{ code: string }> };
    };
    expect(ofPatch.activity.coding[0]!.code).toBe('UPDATE');
  });

  it('honours If-Match: the named version is patched, another one is a 412 and nothing is stored', async () => {
    const id = await create();
    await patch(`/Patient/${id}`, [{ op: 'replace', path: '/active', value: false }], {
      'If-Match': 'W/"1"',
    }).expect(200);
    const stale = await patch(`/Patient/${id}`, [{ op: 'replace', path: '/active', value: true }], {
      'If-Match': 'W/"1"',
    }).expect(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');
    const stored = await current(id);
    expect(stored.meta?.versionId).toBe('2');
    expect(stored.active).toBe(false);
  });

  it('honours Prefer: return=minimal and return=OperationOutcome', async () => {
    const id = await create();
    const minimal = await patch(
      `/Patient/${id}`,
      [{ op: 'replace', path: '/active', value: false }],
      { Prefer: 'return=minimal' },
    ).expect(200);
    expect(minimal.text).toBe('');
    expect(minimal.headers.etag).toBe('W/"2"');
    const oo = await patch(`/Patient/${id}`, [{ op: 'replace', path: '/active', value: true }], {
      Prefer: 'return=OperationOutcome',
    }).expect(200);
    expect(oo.body.resourceType).toBe('OperationOutcome');
    expect(oo.body.issue[0].diagnostics).toContain(`Patient/${id}/_history/3`);
  });

  it.each<[string, Op[]]>([
    [
      'a failing test op',
      [
        { op: 'test', path: '/gender', value: 'female' },
        { op: 'replace', path: '/active', value: false },
      ],
    ],
    ['a path that does not exist', [{ op: 'replace', path: '/maritalStatus/text', value: 'x' }]],
    ['removing what is absent', [{ op: 'remove', path: '/deceasedBoolean' }]],
    ['an invalid result (unknown element)', [{ op: 'add', path: '/colour', value: 'blue' }]],
    [
      'an invalid result (code outside its value set)',
      [{ op: 'replace', path: '/gender', value: 'robot' }],
    ],
    ['a changed id', [{ op: 'replace', path: '/id', value: 'someone-else' }]],
    ['a changed resourceType', [{ op: 'replace', path: '/resourceType', value: 'Person' }]],
  ])('%s is a 422 OperationOutcome and stores nothing', async (_what, ops) => {
    const id = await create();
    const res = await patch(`/Patient/${id}`, ops).expect(422);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].severity).toBe('error');
    const stored = await current(id);
    expect(stored.meta?.versionId).toBe('1');
    expect(stored.active).toBe(true);
    expect(stored.gender).toBe('male');
    const history = await api.get(`/Patient/${id}/_history`).expect(200);
    expect(history.body.total).toBe(1);
  });

  it.each<[string, unknown]>([
    ['not an array', { op: 'replace', path: '/active', value: false }],
    ['an unknown op', [{ op: 'merge', path: '/active', value: false }]],
    ['a path without a leading slash', [{ op: 'replace', path: 'active', value: false }]],
    ['a replace without a value', [{ op: 'replace', path: '/active' }]],
    ['no operations', []],
    ['a __proto__ path', [{ op: 'add', path: '/__proto__/polluted', value: true }]],
  ])('a malformed patch (%s) is a 400 and stores nothing', async (_what, body) => {
    const id = await create();
    const res = await patch(`/Patient/${id}`, body).expect(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect((await current(id)).meta?.versionId).toBe('1');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('is a 404 for an unknown resource or type and a 410 for a deleted one', async () => {
    const ops = [{ op: 'replace', path: '/active', value: false }];
    const unknown = await patch('/Patient/does-not-exist', ops).expect(404);
    expect(unknown.body.resourceType).toBe('OperationOutcome');
    await patch('/NotAType/x', ops).expect(404);
    const id = await create();
    await api.delete(`/Patient/${id}`).expect(204);
    const gone = await patch(`/Patient/${id}`, ops).expect(410);
    expect(gone.body.resourceType).toBe('OperationOutcome');
    // The deletion stays the latest version.
    const history = await api.get(`/Patient/${id}/_history`).expect(200);
    expect(history.body.total).toBe(2);
  });

  it('takes a JSON Patch or a FHIRPath Patch: other body types are a 415 naming both', async () => {
    const id = await create();
    const text = await api
      .patch(`/Patient/${id}`)
      .set('Content-Type', 'text/plain')
      .send('active=false')
      .expect(415);
    expect(text.body.resourceType).toBe('OperationOutcome');
    expect(text.body.issue[0].diagnostics).toContain(JSON_PATCH);
    expect(text.body.issue[0].diagnostics).toContain(FHIR_JSON);
    // A JSON Patch body is not accepted by the other interactions.
    await api
      .put(`/Patient/${id}`)
      .set('Content-Type', JSON_PATCH)
      .send(JSON.stringify([]))
      .expect(415);
    // A FHIR JSON body must be a Parameters (FHIRPath Patch).
    await api.patch(`/Patient/${id}`).set('Content-Type', FHIR_JSON).send(patient()).expect(400);
    expect((await current(id)).meta?.versionId).toBe('1');
  });

  it('needs the SMART update permission (u): a read-only token is refused, nothing stored', async () => {
    const id = await create();
    const res = await request(server.base)
      .patch(`/Patient/${id}`)
      .set(bearer(readOnly))
      .set('Content-Type', JSON_PATCH)
      .send(JSON.stringify([{ op: 'replace', path: '/active', value: false }]))
      .expect(403);
    expect(res.body.issue[0].code).toBe('forbidden');
    const bundle = await request(server.base)
      .post('/')
      .set(bearer(readOnly))
      .set('Content-Type', FHIR_JSON)
      .send({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          {
            resource: binary([{ op: 'replace', path: '/active', value: false }]),
            request: { method: 'PATCH', url: `Patient/${id}` },
          },
        ],
      })
      .expect(200);
    expect(bundle.body.entry[0].response.status).toBe('403 Forbidden');
    expect((await current(id)).meta?.versionId).toBe('1');
  });

  it('is listed in the CapabilityStatement as the patch interaction of every type', async () => {
    const meta = await api.get('/metadata').expect(200);
    for (const resource of meta.body.rest[0].resource) {
      expect(resource.interaction.map((i: { code: string }) => i.code)).toContain('patch');
    }
    expect(meta.body.patchFormat).toEqual([JSON_PATCH, FHIR_JSON]);
  });
});

describe('PATCH [type]?query (conditional patch)', () => {
  it('patches the single match, is a 404 without a match and a 412 with several', async () => {
    const mrn = 'http://example.org/mrn|cond-patch-1';
    const id = await create(
      patient({ identifier: [{ system: 'http://example.org/mrn', value: 'cond-patch-1' }] }),
    );
    const res = await patch(`/Patient?identifier=${encodeURIComponent(mrn)}`, [
      { op: 'replace', path: '/active', value: false },
    ]).expect(200);
    expect(res.body.id).toBe(id);
    expect(res.headers.location).toBe(`${server.base}/Patient/${id}/_history/2`);
    expect((await current(id)).active).toBe(false);

    await patch('/Patient?identifier=http://example.org/mrn|nobody', [
      { op: 'replace', path: '/active', value: false },
    ]).expect(404);

    const twin = { identifier: [{ system: 'http://example.org/mrn', value: 'cond-patch-twin' }] };
    const a = await create(patient(twin));
    const b = await create(patient(twin));
    await patch('/Patient?identifier=http://example.org/mrn|cond-patch-twin', [
      { op: 'replace', path: '/active', value: false },
    ]).expect(412);
    expect((await current(a)).meta?.versionId).toBe('1');
    expect((await current(b)).meta?.versionId).toBe('1');
    // Criteria the server does not understand are refused, never ignored.
    await patch('/Patient?nonsense=1', [{ op: 'replace', path: '/active', value: false }]).expect(
      400,
    );
  });
});

describe('PATCH entries in Bundles (a Binary holding the JSON Patch)', () => {
  it('a transaction patches in the PUT/PATCH phase and resolves urn:uuid references in patch values', async () => {
    const id = await create();
    const org = 'urn:uuid:6b3f7c3e-3c5c-4a43-9d0e-0f6d2f4c1a11';
    const res = await api
      .post('/')
      .set('Content-Type', FHIR_JSON)
      .send({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: binary([
              { op: 'test', path: '/meta/versionId', value: '1' },
              { op: 'add', path: '/managingOrganization', value: { reference: org } },
            ]),
            request: { method: 'PATCH', url: `Patient/${id}`, ifMatch: 'W/"1"' },
          },
          {
            fullUrl: org,
            resource: { resourceType: 'Organization', name: 'Acme' },
            request: { method: 'POST', url: 'Organization' },
          },
        ],
      })
      .expect(200);
    expect(res.body.type).toBe('transaction-response');
    expect(res.body.entry[0].response).toMatchObject({
      status: '200 OK',
      location: `Patient/${id}/_history/2`,
      etag: 'W/"2"',
    });
    const orgRef = res.body.entry[1].response.location.split('/_history')[0];
    expect(orgRef).toMatch(/^Organization\//);
    expect((await current(id)).managingOrganization).toEqual({ reference: orgRef });
    const history = await api.get(`/Patient/${id}/_history`).expect(200);
    expect(history.body.entry[0].request.method).toBe('PATCH');
  });

  it('a failing patch fails the whole transaction, naming its entry, and nothing is stored', async () => {
    const id = await create();
    const res = await api
      .post('/')
      .set('Content-Type', FHIR_JSON)
      .send({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: 'urn:uuid:0d3c7a52-4a3d-4c37-8d38-4bb5b1f2a0c2',
            resource: patient({ name: [{ family: 'RolledBack' }] }),
            request: { method: 'POST', url: 'Patient' },
          },
          {
            resource: binary([
              { op: 'test', path: '/gender', value: 'female' },
              { op: 'replace', path: '/active', value: false },
            ]),
            request: { method: 'PATCH', url: `Patient/${id}` },
          },
        ],
      })
      .expect(422);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toContain('Bundle.entry[1]');
    expect((await current(id)).meta?.versionId).toBe('1');
    const search = await api.get('/Patient?family=RolledBack').expect(200);
    expect(search.body.total).toBe(0);
  });

  it('a batch runs each PATCH on its own: one succeeds, a failing one gets its outcome', async () => {
    const ok = await create();
    const bad = await create();
    const mrn = 'cond-patch-batch';
    const cond = await create(
      patient({ identifier: [{ system: 'http://example.org/mrn', value: mrn }] }),
    );
    const res = await api
      .post('/')
      .set('Content-Type', FHIR_JSON)
      .set('Prefer', 'return=representation')
      .send({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          {
            resource: binary([{ op: 'replace', path: '/gender', value: 'female' }]),
            request: { method: 'PATCH', url: `Patient/${ok}` },
          },
          {
            resource: binary([{ op: 'remove', path: '/deceasedBoolean' }]),
            request: { method: 'PATCH', url: `Patient/${bad}` },
          },
          {
            resource: binary([{ op: 'replace', path: '/active', value: false }]),
            request: {
              method: 'PATCH',
              url: `Patient?identifier=http://example.org/mrn|${mrn}`,
            },
          },
          {
            resource: { resourceType: 'Basic', code: { text: 'not a patch' } },
            request: { method: 'PATCH', url: `Patient/${ok}` },
          },
          {
            resource: binary([{ op: 'replace', path: '/active', value: false }]),
            request: { method: 'PATCH', url: 'Patient/nobody-here' },
          },
        ],
      })
      .expect(200);
    const statuses = res.body.entry.map((e: { response: { status: string } }) => e.response.status);
    expect(statuses).toEqual([
      '200 OK',
      '422 Unprocessable Entity',
      '200 OK',
      '415 Unsupported Media Type',
      '404 Not Found',
    ]);
    expect(res.body.entry[0].resource.gender).toBe('female');
    expect(res.body.entry[1].response.outcome.resourceType).toBe('OperationOutcome');
    expect((await current(ok)).gender).toBe('female');
    expect((await current(bad)).meta?.versionId).toBe('1');
    expect((await current(cond)).active).toBe(false);
  });

  it('a malformed PATCH entry (data not base64 JSON) is a 400 for that entry', async () => {
    const id = await create();
    const res = await api
      .post('/')
      .set('Content-Type', FHIR_JSON)
      .send({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          {
            resource: { resourceType: 'Binary', contentType: JSON_PATCH, data: 'bm90IGpzb24=' },
            request: { method: 'PATCH', url: `Patient/${id}` },
          },
        ],
      })
      .expect(200);
    expect(res.body.entry[0].response.status).toBe('400 Bad Request');
  });
});

/** One FHIRPath Patch operation as a Parameters part list. */
function operation(type: string, path: string, extra: Record<string, unknown> = {}) {
  const part: Array<Record<string, unknown>> = [
    { name: 'type', valueCode: type },
    { name: 'path', valueString: path },
  ];
  for (const [name, value] of Object.entries(extra)) {
    if (name === 'name') part.push({ name, valueString: value });
    else if (['index', 'source', 'destination'].includes(name))
      part.push({ name, valueInteger: value });
    else part.push({ name: 'value', ...(value as object) });
  }
  return { name: 'operation', part };
}
const parameters = (...parameter: object[]) => ({ resourceType: 'Parameters', parameter });
const fhirPathPatch = (path: string, body: object, headers: Record<string, string> = {}) =>
  api.patch(path).set('Content-Type', FHIR_JSON).set(headers).send(body);

describe('PATCH with a FHIRPath Patch (Parameters)', () => {
  const twoNames = () =>
    patient({
      name: [
        { use: 'official', family: 'Chalmers', given: ['Peter', 'James'] },
        { use: 'old', family: 'Smith' },
      ],
    });

  it('applies add, insert, delete, replace and move at FHIRPath locations', async () => {
    const id = await create(twoNames());
    const res = await fhirPathPatch(
      `/Patient/${id}`,
      parameters(
        operation('replace', "Patient.name.where(use='official').family", {
          value: { valueString: 'Windsor' },
        }),
        operation('replace', 'Patient.name[0].given[1]', { value: { valueString: 'Jim' } }),
        operation('add', 'Patient', {
          name: 'telecom',
          value: { valueContactPoint: { system: 'phone', value: '555-1234' } },
        }),
        operation('add', 'Patient.name[0]', { name: 'given', value: { valueString: 'Paul' } }),
        operation('delete', "Patient.name.where(use='old')"),
        operation('insert', 'Patient.name', {
          index: 0,
          value: { valueHumanName: { use: 'nickname', given: ['Pete'] } },
        }),
        operation('move', 'Patient.name', { source: 0, destination: 1 }),
        operation('delete', 'Patient.birthDate'),
        operation('delete', 'Patient.deceased'),
      ),
    ).expect(200);
    expect(res.headers.etag).toBe('W/"2"');
    const stored = await current(id);
    expect(stored.name).toEqual([
      { use: 'official', family: 'Windsor', given: ['Peter', 'Jim', 'Paul'] },
      { use: 'nickname', given: ['Pete'] },
    ]);
    expect(stored.telecom).toEqual([{ system: 'phone', value: '555-1234' }]);
    expect(stored.birthDate).toBeUndefined();
    const history = await api.get(`/Patient/${id}/_history`).expect(200);
    expect(history.body.entry[0].request.method).toBe('PATCH');
  });

  it('names a choice element without its type (Observation.value is valueQuantity)', async () => {
    const res = await api
      .post('/Observation')
      .set('Content-Type', FHIR_JSON)
      .send({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'weight' },
        valueQuantity: { value: 70, unit: 'kg' },
      })
      .expect(201);
    const patched = await fhirPathPatch(
      `/Observation/${res.body.id}`,
      parameters(
        operation('replace', 'Observation.value', {
          value: { valueQuantity: { value: 72, unit: 'kg' } },
        }),
      ),
    ).expect(200);
    expect(patched.body.valueQuantity).toEqual({ value: 72, unit: 'kg' });
    // A primitive selected only through a function cannot be located: 422, nothing stored.
    await fhirPathPatch(
      `/Observation/${res.body.id}`,
      parameters(operation('delete', 'Observation.code.text.first()')),
    ).expect(422);
  });

  it('builds a backbone element from value parts', async () => {
    const id = await create();
    await fhirPathPatch(
      `/Patient/${id}`,
      parameters(
        operation('add', 'Patient', {
          name: 'contact',
          value: {
            part: [
              { name: 'name', valueHumanName: { family: 'Next-of-kin' } },
              { name: 'gender', valueCode: 'female' },
            ],
          },
        }),
      ),
    ).expect(200);
    expect((await current(id)).contact).toEqual([
      { name: { family: 'Next-of-kin' }, gender: 'female' },
    ]);
  });

  it.each<[string, object, number]>([
    [
      'replace of nothing',
      parameters(
        operation('replace', 'Patient.maritalStatus', {
          value: { valueCodeableConcept: { text: 'x' } },
        }),
      ),
      422,
    ],
    [
      'add over a non-repeating element',
      parameters(operation('add', 'Patient', { name: 'gender', value: { valueCode: 'female' } })),
      422,
    ],
    [
      'an invalid result',
      parameters(operation('replace', 'Patient.gender', { value: { valueCode: 'robot' } })),
      422,
    ],
    [
      'a changed id',
      parameters(operation('replace', 'Patient.id', { value: { valueId: 'other' } })),
      422,
    ],
    [
      'an insert past the list',
      parameters(
        operation('insert', 'Patient.name', {
          index: 5,
          value: { valueHumanName: { family: 'X' } },
        }),
      ),
      422,
    ],
    ['a path that is not FHIRPath', parameters(operation('delete', 'Patient.name[')), 400],
    ['an unknown operation type', parameters(operation('merge', 'Patient.name')), 400],
    [
      'an add without a name',
      parameters(operation('add', 'Patient', { value: { valueBoolean: true } })),
      400,
    ],
    ['no operations', parameters(), 400],
    [
      'a __proto__ name',
      parameters(operation('add', 'Patient', { name: '__proto__', value: { valueString: 'x' } })),
      400,
    ],
    [
      'a __proto__ value part',
      parameters(
        operation('add', 'Patient', {
          name: 'contact',
          value: { part: [{ name: '__proto__', valueString: 'x' }] },
        }),
      ),
      400,
    ],
  ])('%s is a %i and stores nothing', async (_what, body, status) => {
    const id = await create();
    const res = await fhirPathPatch(`/Patient/${id}`, body).expect(status);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const stored = await current(id);
    expect(stored.meta?.versionId).toBe('1');
    expect(stored.gender).toBe('male');
  });

  it('works as a transaction entry, If-Match and all', async () => {
    const id = await create(twoNames());
    const res = await api
      .post('/')
      .set('Content-Type', FHIR_JSON)
      .send({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: parameters(operation('delete', "Patient.name.where(use='old')")),
            request: { method: 'PATCH', url: `Patient/${id}`, ifMatch: 'W/"1"' },
          },
        ],
      })
      .expect(200);
    expect(res.body.entry[0].response.status).toBe('200 OK');
    expect((await current(id)).name).toHaveLength(1);
  });
});
