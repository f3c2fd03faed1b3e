import type { Basic, Bundle, BundleEntry, Encounter, Observation, Patient } from 'fhir/r4.js';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FhirError, issue } from '../../src/fhir/errors.js';
import type { Operation, StoredVersion } from '../../src/fhir/hooks.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const FHIR_JSON = 'application/fhir+json';
const SYS = 'http://example.org/mrn';
let server: TestServer;
let api: TestServer['api'];
let sql: pg.Client;
const commits: StoredVersion[][] = [];
const operations: Operation[] = [];

beforeAll(async () => {
  server = await startTestServer({}, (hooks) => {
    hooks.beforeOperation.push(async (op) => {
      operations.push(op);
      if (op.resourceType === 'Basic' && op.interaction === 'create')
        throw new FhirError(403, [issue('forbidden', 'Basic is off limits')]);
    });
    hooks.beforeCommit.push(async (_tx, versions) => {
      commits.push([...versions]);
    });
  });
  api = server.api;
  sql = new pg.Client({ connectionString: server.databaseUrl });
  await sql.connect();
});
afterAll(async () => {
  await sql?.end();
  await server?.close();
});
beforeEach(() => {
  commits.length = 0;
  operations.length = 0;
});

const patient = (mrn: string, extra: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  identifier: [{ system: SYS, value: mrn }],
  name: [{ family: 'Tx', given: [mrn] }],
  ...extra,
});
const transaction = (entry: BundleEntry[]): Bundle => ({
  resourceType: 'Bundle',
  type: 'transaction',
  entry,
});
const post = (bundle: unknown, prefer?: string) => {
  const req = api.post('').set('Content-Type', FHIR_JSON);
  if (prefer) req.set('Prefer', prefer);
  return req.send(bundle as object);
};
function put(resource: Patient & { id: string }) {
  return api.put(`/Patient/${resource.id}`).set('Content-Type', FHIR_JSON).send(resource);
}
/** What a user would see change: the system history total and the stored version rows. */
async function snapshot() {
  const history = await api.get('/_history').expect(200);
  const rows = await sql.query('SELECT count(*)::int AS n FROM resource_version');
  return { history: history.body.total as number, rows: rows.rows[0].n as number };
}
const statuses = (bundle: Bundle) => bundle.entry!.map((e) => e.response!.status);

describe('transaction', () => {
  it('creates every entry, resolves urn:uuid references and answers a transaction-response', async () => {
    const res = await post(
      transaction([
        {
          fullUrl: 'urn:uuid:7c3f1c9e-0000-4000-8000-000000000001',
          resource: patient('uuid-1'),
          request: { method: 'POST', url: 'Patient' },
        },
        {
          fullUrl: 'urn:uuid:7c3f1c9e-0000-4000-8000-000000000002',
          resource: {
            resourceType: 'Encounter',
            status: 'finished',
            class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
            subject: { reference: 'urn:uuid:7c3f1c9e-0000-4000-8000-000000000001' },
          } as Encounter,
          request: { method: 'POST', url: 'Encounter' },
        },
        {
          fullUrl: 'urn:uuid:7c3f1c9e-0000-4000-8000-000000000003',
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'weight' },
            subject: { reference: 'urn:uuid:7c3f1c9e-0000-4000-8000-000000000001' },
            encounter: { reference: 'urn:uuid:7c3f1c9e-0000-4000-8000-000000000002' },
            hasMember: [{ reference: 'urn:uuid:not-in-this-bundle' }],
          } as Observation,
          request: { method: 'POST', url: 'Observation' },
        },
      ]),
    ).expect(200);
    const bundle = res.body as Bundle;
    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.type).toBe('transaction-response');
    expect(statuses(bundle)).toEqual(['201 Created', '201 Created', '201 Created']);
    const [p, e, o] = bundle.entry!.map((entry) => entry.response!);
    expect(p!.location).toMatch(/^Patient\/[0-9a-f-]{36}\/_history\/1$/);
    expect(e!.location).toMatch(/^Encounter\/[0-9a-f-]{36}\/_history\/1$/);
    expect(p!.etag).toBe('W/"1"');
    expect(new Date(p!.lastModified!).toISOString()).toBe(p!.lastModified);
    expect(bundle.entry![0]!.fullUrl).toBe(`${server.base}/${p!.location!.split('/_history')[0]}`);
    // Without Prefer: return=representation the entries carry no resource.
    expect(bundle.entry![0]!.resource).toBeUndefined();

    const patientRef = p!.location!.split('/_history')[0];
    const observation = (await api.get(`/${o!.location!.split('/_history')[0]}`).expect(200))
      .body as Observation;
    expect(observation.subject!.reference).toBe(patientRef);
    expect(observation.encounter!.reference).toBe(e!.location!.split('/_history')[0]);
    expect(observation.hasMember![0]!.reference).toBe('urn:uuid:not-in-this-bundle');
    const encounter = (await api.get(`/${e!.location!.split('/_history')[0]}`).expect(200)).body;
    expect(encounter.subject.reference).toBe(patientRef);
  });

  it('returns the stored resources with Prefer: return=representation', async () => {
    const res = await post(
      transaction([{ resource: patient('repr-1'), request: { method: 'POST', url: 'Patient' } }]),
      'return=representation',
    ).expect(200);
    const entry = res.body.entry[0];
    expect(entry.resource.resourceType).toBe('Patient');
    expect(entry.resource.meta.versionId).toBe('1');
    expect(entry.fullUrl).toBe(`${server.base}/Patient/${entry.resource.id}`);
  });

  it('processes DELETE, then POST, then PUT, then GET, whatever the order in the bundle', async () => {
    const existing = await post(
      transaction([{ resource: patient('order-1'), request: { method: 'POST', url: 'Patient' } }]),
    ).expect(200);
    const oldId = existing.body.entry[0].response.location.split('/')[1];
    const res = await post(
      transaction([
        { request: { method: 'GET', url: 'Patient/order-put' } },
        {
          resource: patient('order-put', { id: 'order-put' }),
          request: { method: 'PUT', url: 'Patient/order-put' },
        },
        {
          // Matches the old patient only if it runs before the DELETE below.
          resource: patient('order-1'),
          request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|order-1` },
        },
        { request: { method: 'DELETE', url: `Patient?identifier=${SYS}|order-1` } },
      ]),
    ).expect(200);
    expect(statuses(res.body)).toEqual(['200 OK', '201 Created', '201 Created', '204 No Content']);
    // The GET ran after the PUT it precedes in the bundle.
    expect(res.body.entry[0].resource.id).toBe('order-put');
    expect(res.body.entry[2].response.location).not.toContain(oldId);
    await api.get(`/Patient/${oldId}`).expect(410);
    // History is newest first: the PUT, then the POST, then the deletion (type history:
    // each version also has a Provenance in the system history).
    const newRef = res.body.entry[2].response.location.split('/_history')[0];
    const history = await api.get('/Patient/_history?_count=3').expect(200);
    expect(history.body.entry.map((e: BundleEntry) => e.fullUrl)).toEqual([
      `${server.base}/Patient/order-put`,
      `${server.base}/${newRef}`,
      `${server.base}/Patient/${oldId}`,
    ]);
    expect(history.body.entry[2].request.method).toBe('DELETE');
  });

  it('conditional create that matches returns the existing resource and references resolve to it', async () => {
    const first = await post(
      transaction([{ resource: patient('ine-1'), request: { method: 'POST', url: 'Patient' } }]),
    ).expect(200);
    const existingRef = first.body.entry[0].response.location.split('/_history')[0];
    const res = await post(
      transaction([
        {
          fullUrl: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001',
          resource: patient('ine-1'),
          request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|ine-1` },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'pulse' },
            subject: { reference: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001' },
          } as Observation,
          request: { method: 'POST', url: 'Observation' },
        },
      ]),
    ).expect(200);
    expect(statuses(res.body)).toEqual(['200 OK', '201 Created']);
    expect(res.body.entry[0].response.location).toBe(`${existingRef}/_history/1`);
    const obs = await api
      .get(`/${res.body.entry[1].response.location.split('/_history')[0]}`)
      .expect(200);
    expect(obs.body.subject.reference).toBe(existingRef);
  });

  it('conditional update creates without a match, updates one match, and fails on several', async () => {
    const url = `Patient?identifier=${SYS}|cu-1`;
    const created = await post(
      transaction([{ resource: patient('cu-1'), request: { method: 'PUT', url } }]),
    ).expect(200);
    expect(statuses(created.body)).toEqual(['201 Created']);
    const ref = created.body.entry[0].response.location.split('/_history')[0];
    const updated = await post(
      transaction([
        { resource: patient('cu-1', { gender: 'female' }), request: { method: 'PUT', url } },
      ]),
    ).expect(200);
    expect(statuses(updated.body)).toEqual(['200 OK']);
    expect(updated.body.entry[0].response.location).toBe(`${ref}/_history/2`);
    expect((await api.get(`/${ref}`).expect(200)).body.gender).toBe('female');

    await post(
      transaction([{ resource: patient('cu-1'), request: { method: 'POST', url: 'Patient' } }]),
    ).expect(200);
    const before = await snapshot();
    const several = await post(
      transaction([
        { resource: patient('cu-other'), request: { method: 'POST', url: 'Patient' } },
        { resource: patient('cu-1'), request: { method: 'PUT', url } },
      ]),
    ).expect(412);
    expect(several.body.resourceType).toBe('OperationOutcome');
    expect(several.body.issue[0].expression).toContain('Bundle.entry[1]');
    expect(await snapshot()).toEqual(before);
  });

  it('conditional delete removes one match, succeeds on none and fails on several', async () => {
    const made = await post(
      transaction([{ resource: patient('cd-1'), request: { method: 'POST', url: 'Patient' } }]),
    ).expect(200);
    const ref = made.body.entry[0].response.location.split('/_history')[0];
    const url = `Patient?identifier=${SYS}|cd-1`;
    const res = await post(transaction([{ request: { method: 'DELETE', url } }])).expect(200);
    expect(res.body.entry[0].response).toEqual({ status: '204 No Content', etag: 'W/"2"' });
    await api.get(`/${ref}`).expect(410);
    const none = await post(transaction([{ request: { method: 'DELETE', url } }])).expect(200);
    expect(none.body.entry[0].response).toEqual({ status: '204 No Content' });

    const two = transaction([
      { resource: patient('cd-2'), request: { method: 'POST', url: 'Patient' } },
      { resource: patient('cd-2'), request: { method: 'POST', url: 'Patient' } },
    ]);
    await post(two).expect(200);
    const before = await snapshot();
    const several = await post(
      transaction([{ request: { method: 'DELETE', url: `Patient?identifier=${SYS}|cd-2` } }]),
    ).expect(412);
    expect(several.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[0\] \(DELETE Patient\?/);
    expect(await snapshot()).toEqual(before);
  });

  it('honours ifMatch and rolls everything back when it does not match', async () => {
    await put(patient('im-1', { id: 'im-1' }) as Patient & { id: string }).expect(201);
    await put(patient('im-1', { id: 'im-1', gender: 'male' }) as Patient & { id: string }).expect(
      200,
    );
    const ok = await post(
      transaction([
        {
          resource: patient('im-1', { id: 'im-1', gender: 'other' }),
          request: { method: 'PUT', url: 'Patient/im-1', ifMatch: 'W/"2"' },
        },
      ]),
    ).expect(200);
    expect(ok.body.entry[0].response.etag).toBe('W/"3"');

    const before = await snapshot();
    const res = await post(
      transaction([
        { resource: patient('im-new'), request: { method: 'POST', url: 'Patient' } },
        {
          resource: patient('im-put', { id: 'im-put' }),
          request: { method: 'PUT', url: 'Patient/im-put' },
        },
        { request: { method: 'DELETE', url: 'Patient/im-1', ifMatch: 'W/"1"' } },
      ]),
    ).expect(412);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].expression).toEqual(['Bundle.entry[2]']);
    expect(res.body.issue[0].diagnostics).toContain('Bundle.entry[2] (DELETE Patient/im-1)');
    expect(await snapshot()).toEqual(before);
    await api.get('/Patient/im-put').expect(404);
    expect((await api.get('/Patient/im-1').expect(200)).body.gender).toBe('other');
  });

  it('updates several resources at once, replacing their index rows, and names a failing ifMatch', async () => {
    await put(patient('many-1', { id: 'many-1' }) as Patient & { id: string }).expect(201);
    await put(patient('many-2', { id: 'many-2' }) as Patient & { id: string }).expect(201);
    const updated = await post(
      transaction([
        {
          resource: patient('many-1b', { id: 'many-1' }),
          request: { method: 'PUT', url: 'Patient/many-1', ifMatch: 'W/"1"' },
        },
        {
          resource: patient('many-2b', { id: 'many-2' }),
          request: { method: 'PUT', url: 'Patient/many-2' },
        },
        { resource: patient('many-3'), request: { method: 'POST', url: 'Patient' } },
      ]),
    ).expect(200);
    expect(statuses(updated.body)).toEqual(['200 OK', '200 OK', '201 Created']);
    const found = async (mrn: string) =>
      (
        (
          await api
            .get('/Patient')
            .query({ identifier: `${SYS}|${mrn}` })
            .expect(200)
        ).body as Bundle
      ).entry?.length ?? 0;
    expect([await found('many-1'), await found('many-2')]).toEqual([0, 0]);
    expect([await found('many-1b'), await found('many-2b'), await found('many-3')]).toEqual([
      1, 1, 1,
    ]);

    const before = await snapshot();
    const res = await post(
      transaction([
        { resource: patient('many-4'), request: { method: 'POST', url: 'Patient' } },
        {
          resource: patient('many-1c', { id: 'many-1' }),
          request: { method: 'PUT', url: 'Patient/many-1' },
        },
        {
          resource: patient('many-2c', { id: 'many-2' }),
          request: { method: 'PUT', url: 'Patient/many-2', ifMatch: 'W/"1"' },
        },
      ]),
    ).expect(412);
    expect(res.body.issue[0].expression).toEqual(['Bundle.entry[2]']);
    expect(res.body.issue[0].diagnostics).toContain('Bundle.entry[2] (PUT Patient/many-2)');
    expect(await snapshot()).toEqual(before);
    expect([await found('many-4'), await found('many-1c'), await found('many-1b')]).toEqual([
      0, 0, 1,
    ]);
  });

  it('validates every resource before storing anything, naming the failing entry', async () => {
    const before = await snapshot();
    const res = await post(
      transaction([
        { resource: patient('val-1'), request: { method: 'POST', url: 'Patient' } },
        {
          fullUrl: 'urn:uuid:bbbbbbbb-0000-4000-8000-000000000001',
          resource: { resourceType: 'Patient', gender: 'unknown-gender' } as unknown as Patient,
          request: { method: 'POST', url: 'Patient' },
        },
      ]),
    ).expect(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const [first] = res.body.issue;
    expect(first.expression[0]).toBe('Bundle.entry[1]');
    expect(first.expression[1]).toMatch(/^Bundle\.entry\[1\]\.resource\.gender/);
    expect(first.diagnostics).toContain('urn:uuid:bbbbbbbb-0000-4000-8000-000000000001');
    expect(await snapshot()).toEqual(before);
    expect(commits).toEqual([]);
  });

  it('refuses two entries that change the same resource', async () => {
    const before = await snapshot();
    const res = await post(
      transaction([
        {
          resource: patient('dup', { id: 'dup-1' }),
          request: { method: 'PUT', url: 'Patient/dup-1' },
        },
        { request: { method: 'DELETE', url: 'Patient/dup-1' } },
      ]),
    ).expect(400);
    expect(res.body.issue[0].diagnostics).toContain(
      'Patient/dup-1 is changed by more than one entry',
    );
    expect(await snapshot()).toEqual(before);
  });

  it('rejects malformed bundles with a 400 OperationOutcome and stores nothing', async () => {
    const before = await snapshot();
    const valid: BundleEntry = {
      resource: patient('bad-0'),
      request: { method: 'POST', url: 'Patient' },
    };
    const cases: Array<[unknown, RegExp]> = [
      [patient('not-a-bundle'), /Expected a Bundle/],
      [{ resourceType: 'Bundle', type: 'collection', entry: [valid] }, /batch or transaction/],
      [{ resourceType: 'Bundle', type: 'transaction', entry: {} }, /must be an array/],
      [transaction([valid, { resource: patient('x') } as BundleEntry]), /entry\[1\].*no request/],
      [
        transaction([
          valid,
          {
            resource: patient('x'),
            request: { method: 'FETCH', url: 'Patient' },
          } as unknown as BundleEntry,
        ]),
        /Unknown request method/,
      ],
      [
        transaction([
          valid,
          { resource: patient('x'), request: { method: 'POST', url: 'Patient/a/b' } },
        ]),
        /Patient\/a\/b/,
      ],
      [
        transaction([
          valid,
          { resource: patient('x'), request: { method: 'POST', url: 'Nonsense' } },
        ]),
        /Unknown resource type/,
      ],
      [
        transaction([valid, { request: { method: 'DELETE', url: 'Patient' } }]),
        /Type\/id or Type\?query/,
      ],
      [transaction([valid, { request: { method: 'POST', url: 'Patient' } }]), /no resource/],
      [
        transaction([
          valid,
          {
            resource: { resourceType: 'Observation' } as unknown as Patient,
            request: { method: 'POST', url: 'Patient' },
          },
        ]),
        /does not match/,
      ],
      [
        transaction([
          valid,
          { resource: patient('x', { id: 'a' }), request: { method: 'PUT', url: 'Patient/b' } },
        ]),
        /does not match the URL id/,
      ],
      [
        transaction([valid, { request: { method: 'GET', url: 'Patient/1/nonsense' } }]),
        /No read interaction/,
      ],
      [
        transaction([
          valid,
          { request: { method: 'POST', url: 'http://elsewhere.example/fhir/Patient' } },
        ]),
        /not on this server/,
      ],
      [
        transaction([
          valid,
          {
            request: { method: 'PUT', url: 'Patient/x', ifMatch: 'three' },
            resource: patient('x', { id: 'x' }),
          },
        ]),
        /ifMatch/,
      ],
    ];
    for (const [body, message] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body).slice(0, 200)).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].diagnostics).toMatch(message);
    }
    const patch = await post(
      transaction([valid, { request: { method: 'PATCH', url: 'Patient/x' } }]),
    ).expect(400);
    expect(patch.body.issue[0].expression).toEqual(['Bundle.entry[1]']);
    await api.post('').set('Content-Type', FHIR_JSON).send('{"resourceType":').expect(400);
    expect(await snapshot()).toEqual(before);
  });

  it('an empty transaction answers an empty transaction-response', async () => {
    const res = await post(transaction([])).expect(200);
    expect(res.body.type).toBe('transaction-response');
    expect(res.body.entry).toEqual([]);
  });

  it('hands every version of the transaction to beforeCommit in one call and checks each entry', async () => {
    await put(patient('hook-0', { id: 'hook-0' }) as Patient & { id: string }).expect(201);
    commits.length = 0;
    operations.length = 0;
    await post(
      transaction([
        { resource: patient('hook-1'), request: { method: 'POST', url: 'Patient' } },
        {
          resource: patient('hook-2', { id: 'hook-2' }),
          request: { method: 'PUT', url: 'Patient/hook-2' },
        },
        { request: { method: 'DELETE', url: 'Patient/hook-0' } },
        { request: { method: 'GET', url: 'Patient/hook-2' } },
      ]),
    ).expect(200);
    expect(commits).toHaveLength(1);
    expect(commits[0]!.map((v) => [v.method, v.resourceType, v.versionId])).toEqual([
      ['DELETE', 'Patient', 2],
      ['POST', 'Patient', 1],
      ['PUT', 'Patient', 1],
    ]);
    expect(operations.map((op) => [op.interaction, op.resourceType, op.id])).toEqual([
      ['transaction', undefined, undefined],
      ['delete', 'Patient', 'hook-0'],
      ['create', 'Patient', undefined],
      ['update', 'Patient', 'hook-2'],
      ['read', 'Patient', 'hook-2'],
    ]);
  });

  it('a refused entry (beforeOperation) fails the whole transaction', async () => {
    const before = await snapshot();
    const res = await post(
      transaction([
        { resource: patient('deny-1'), request: { method: 'POST', url: 'Patient' } },
        {
          resource: { resourceType: 'Basic', code: { text: 'x' } } as Basic,
          request: { method: 'POST', url: 'Basic' },
        },
      ]),
    ).expect(403);
    expect(res.body.issue[0].expression).toEqual(['Bundle.entry[1]']);
    expect(await snapshot()).toEqual(before);
  });
});
