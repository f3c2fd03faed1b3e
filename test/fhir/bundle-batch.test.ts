import type { Bundle, BundleEntry, Patient } from 'fhir/r4.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Operation, StoredVersion } from '../../src/fhir/hooks.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const FHIR_JSON = 'application/fhir+json';
const SYS = 'http://example.org/mrn';
let server: TestServer;
let api: TestServer['api'];
const commits: StoredVersion[][] = [];
const operations: Operation[] = [];

beforeAll(async () => {
  server = await startTestServer({}, (hooks) => {
    hooks.beforeOperation.push(async (op) => {
      operations.push(op);
    });
    hooks.beforeCommit.push(async (_tx, versions) => {
      commits.push([...versions]);
    });
  });
  api = server.api;
});
afterAll(() => server?.close());
beforeEach(() => {
  commits.length = 0;
  operations.length = 0;
});

const patient = (mrn: string, extra: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  identifier: [{ system: SYS, value: mrn }],
  name: [{ family: 'Batch', given: [mrn] }],
  ...extra,
});
const batch = (entry: BundleEntry[]): Bundle => ({ resourceType: 'Bundle', type: 'batch', entry });
const post = (bundle: unknown) =>
  api
    .post('')
    .set('Content-Type', FHIR_JSON)
    .send(bundle as object);
const statuses = (bundle: Bundle) => bundle.entry!.map((e) => e.response!.status);

describe('batch', () => {
  it('answers every entry on its own: failures get an OperationOutcome, the rest is stored', async () => {
    await api
      .put('/Patient/b-existing')
      .set('Content-Type', FHIR_JSON)
      .send(patient('b-existing', { id: 'b-existing' }))
      .expect(201);
    const res = await post(
      batch([
        { resource: patient('b-1'), request: { method: 'POST', url: 'Patient' } },
        {
          resource: { resourceType: 'Patient', gender: 'sometimes' } as unknown as Patient,
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: patient('b-existing', { id: 'b-existing', gender: 'male' }),
          request: { method: 'PUT', url: 'Patient/b-existing', ifMatch: 'W/"7"' },
        },
        { request: { method: 'GET', url: 'Patient/b-missing' } },
        { request: { method: 'DELETE', url: 'Patient/b-existing' } },
        { request: { method: 'POST', url: 'Patient/x/y' } },
        { resource: patient('b-2', { id: 'b-2' }), request: { method: 'PUT', url: 'Patient/b-2' } },
      ]),
    ).expect(200);
    const bundle = res.body as Bundle;
    expect(bundle.type).toBe('batch-response');
    expect(statuses(bundle)).toEqual([
      '201 Created',
      '400 Bad Request',
      '412 Precondition Failed',
      '404 Not Found',
      '204 No Content',
      '400 Bad Request',
      '201 Created',
    ]);
    const invalid = bundle.entry![1]!.response!.outcome as unknown as {
      issue: Array<{ expression: string[] }>;
    };
    expect(invalid.issue[0]!.expression[0]).toBe('Bundle.entry[1]');
    expect(bundle.entry![3]!.response!.outcome).toMatchObject({ resourceType: 'OperationOutcome' });
    expect(bundle.entry![0]!.response!.location).toMatch(/^Patient\/[0-9a-f-]{36}\/_history\/1$/);
    expect(bundle.entry![6]!.response).toMatchObject({
      location: 'Patient/b-2/_history/1',
      etag: 'W/"1"',
    });
    await api.get(`/${bundle.entry![0]!.response!.location!.split('/_history')[0]}`).expect(200);
    await api.get('/Patient/b-2').expect(200);
    // The DELETE ran before the failed PUT (spec order), so version 1 was the one deleted.
    await api.get('/Patient/b-existing').expect(410);
    await api.get('/Patient/b-existing/_history/1').expect(200);
    await api.get('/Patient/b-existing/_history/3').expect(404);
  });

  it('commits each entry in its own transaction', async () => {
    await post(
      batch([
        { resource: patient('b-3'), request: { method: 'POST', url: 'Patient' } },
        { resource: patient('b-4'), request: { method: 'POST', url: 'Patient' } },
      ]),
    ).expect(200);
    expect(commits.map((c) => c.length)).toEqual([1, 1]);
    expect(operations.map((op) => op.interaction)).toEqual(['batch', 'create', 'create']);
  });

  it('answers read, vread and history entries with the route handlers', async () => {
    await api
      .put('/Patient/b-read')
      .set('Content-Type', FHIR_JSON)
      .send(patient('b-read', { id: 'b-read' }))
      .expect(201);
    await api
      .put('/Patient/b-read')
      .set('Content-Type', FHIR_JSON)
      .send(patient('b-read', { id: 'b-read', gender: 'female' }))
      .expect(200);
    operations.length = 0;
    const res = await post(
      batch([
        { request: { method: 'GET', url: 'Patient/b-read' } },
        { request: { method: 'GET', url: '/Patient/b-read/_history/1' } },
        { request: { method: 'GET', url: 'Patient/b-read/_history?_count=1' } },
        { request: { method: 'GET', url: `${server.base}/Patient/b-read` } },
        { request: { method: 'GET', url: 'Patient/b-read', ifNoneMatch: 'W/"2"' } },
        { request: { method: 'HEAD', url: 'Patient/b-read' } },
        { request: { method: 'GET', url: `Patient?identifier=${SYS}|b-read` } },
      ]),
    ).expect(200);
    const [read, vread, history, absolute, notModified, head, search] = res.body
      .entry as BundleEntry[];
    // Search is routed like any other GET of the route table.
    expect(search!.resource).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    expect((search!.resource as Bundle).entry!.map((e) => e.resource!.id)).toEqual(['b-read']);
    expect(read!.resource).toMatchObject({ id: 'b-read', gender: 'female' });
    expect(read!.response).toMatchObject({ status: '200 OK', etag: 'W/"2"' });
    expect(read!.fullUrl).toBe(`${server.base}/Patient/b-read`);
    expect(vread!.resource!.meta!.versionId).toBe('1');
    expect(history!.resource).toMatchObject({ resourceType: 'Bundle', type: 'history' });
    expect((history!.resource as Bundle).entry).toHaveLength(1);
    expect(absolute!.resource!.id).toBe('b-read');
    expect(notModified!.response!.status).toBe('304 Not Modified');
    expect(notModified!.resource).toBeUndefined();
    expect(head!.response!.status).toBe('200 OK');
    expect(head!.resource).toBeUndefined();
    expect(operations.map((op) => op.interaction)).toEqual([
      'batch',
      'read',
      'vread',
      'history-instance',
      'read',
      'read',
      'read',
      'search-type',
    ]);
  });

  it('conditional create, update and delete work per entry', async () => {
    const res = await post(
      batch([
        {
          resource: patient('b-cond'),
          request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|b-cond` },
        },
      ]),
    ).expect(200);
    expect(statuses(res.body)).toEqual(['201 Created']);
    const ref = res.body.entry[0].response.location.split('/_history')[0];
    const again = await post(
      batch([
        {
          resource: patient('b-cond'),
          request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|b-cond` },
        },
        {
          resource: patient('b-cond', { gender: 'other' }),
          request: { method: 'PUT', url: `Patient?identifier=${SYS}|b-cond` },
        },
      ]),
    ).expect(200);
    expect(statuses(again.body)).toEqual(['200 OK', '200 OK']);
    expect(again.body.entry[0].response.location).toBe(`${ref}/_history/1`);
    expect(again.body.entry[1].response.location).toBe(`${ref}/_history/2`);
    const removed = await post(
      batch([{ request: { method: 'DELETE', url: `Patient?identifier=${SYS}|b-cond` } }]),
    ).expect(200);
    expect(statuses(removed.body)).toEqual(['204 No Content']);
    await api.get(`/${ref}`).expect(410);
  });

  it('resolves references to entries stored earlier in the batch', async () => {
    const res = await post(
      batch([
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'temp' },
            subject: { reference: 'urn:uuid:cccccccc-0000-4000-8000-000000000001' },
          },
          request: { method: 'POST', url: 'Observation' },
        },
        {
          fullUrl: 'urn:uuid:cccccccc-0000-4000-8000-000000000001',
          resource: patient('b-ref'),
          request: { method: 'PUT', url: 'Patient/b-ref' },
        },
      ] as BundleEntry[]),
    ).expect(200);
    // PUT needs the body id: this entry fails on its own and the POST is still stored.
    expect(statuses(res.body)).toEqual(['201 Created', '400 Bad Request']);
    const ok = await post(
      batch([
        {
          fullUrl: 'urn:uuid:cccccccc-0000-4000-8000-000000000002',
          resource: patient('b-ref2'),
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'temp' },
            subject: { reference: 'urn:uuid:cccccccc-0000-4000-8000-000000000002' },
          },
          request: { method: 'POST', url: 'Observation' },
        },
      ] as BundleEntry[]),
    ).expect(200);
    const patientRef = ok.body.entry[0].response.location.split('/_history')[0];
    const obs = await api
      .get(`/${ok.body.entry[1].response.location.split('/_history')[0]}`)
      .expect(200);
    expect(obs.body.subject.reference).toBe(patientRef);
  });

  it('rejects a body that is not a batch or transaction Bundle', async () => {
    for (const body of [
      { resourceType: 'Bundle', type: 'searchset' },
      { resourceType: 'Parameters' },
      [],
    ]) {
      const res = await post(body).expect(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
  });
});
