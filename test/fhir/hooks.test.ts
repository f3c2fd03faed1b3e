import type { Patient } from 'fhir/r4.js';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FhirError, issue } from '../../src/fhir/errors.js';
import type { StoredVersion } from '../../src/fhir/hooks.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const JSON_TYPE = 'application/fhir+json';
let server: TestServer;
let api: TestServer['api'];
let observer: pg.Client;
const committed: StoredVersion[][] = [];
const seenInside: Array<{ insideTx: number; outsideTx: number }> = [];

const patient = (family: string): Patient => ({ resourceType: 'Patient', name: [{ family }] });

beforeAll(async () => {
  server = await startTestServer({}, (hooks) => {
    hooks.beforeOperation.push(async (op) => {
      if (op.resourceType === 'Basic')
        throw new FhirError(403, [issue('forbidden', 'Basic is off limits')]);
    });
    hooks.beforeCommit.push(async (tx, versions) => {
      const v = versions[0]!;
      const count = (client: pg.ClientBase) =>
        client.query(
          'SELECT count(*)::int AS n FROM resource_version WHERE resource_type = $1 AND id = $2',
          [v.resourceType, v.id],
        );
      seenInside.push({
        insideTx: (await count(tx)).rows[0].n,
        outsideTx: (await count(observer)).rows[0].n,
      });
      if ((v.resource as Patient | undefined)?.name?.[0]?.family === 'Rollback')
        throw new Error('outbox unavailable');
    });
    hooks.afterCommit.push(async (versions) => {
      committed.push(versions);
    });
    hooks.filterCandidate.push(
      async (resource) => (resource as Patient).name?.[0]?.family !== 'Hidden',
    );
    hooks.beforeReturn.push(async (resource) =>
      resource.resourceType === 'Patient' ? { ...resource, birthDate: undefined } : resource,
    );
  });
  observer = new pg.Client({ connectionString: server.databaseUrl });
  await observer.connect();
  api = server.api;
});
afterAll(async () => {
  await observer?.end();
  await server?.close();
});
beforeEach(() => {
  committed.length = 0;
  seenInside.length = 0;
});

describe('storage hooks', () => {
  it('beforeCommit runs inside the transaction, before other sessions can see the version', async () => {
    const res = await api
      .post('/Patient')
      .set('Content-Type', JSON_TYPE)
      .send(patient('Inside'))
      .expect(201);
    expect(seenInside).toEqual([{ insideTx: 1, outsideTx: 0 }]);
    expect(committed).toHaveLength(1);
    expect(committed[0]![0]).toMatchObject({
      resourceType: 'Patient',
      id: res.body.id,
      versionId: 1,
      method: 'POST',
    });
  });

  it('a failing beforeCommit rolls the whole write back', async () => {
    const res = await api
      .put('/Patient/rollback-1')
      .set('Content-Type', JSON_TYPE)
      .send({ ...patient('Rollback'), id: 'rollback-1' })
      .expect(500);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).not.toContain('outbox');
    expect(committed).toHaveLength(0);
    const rows = await observer.query(
      "SELECT count(*)::int AS n FROM resource_version WHERE id = 'rollback-1'",
    );
    expect(rows.rows[0].n).toBe(0);
    await api.get('/Patient/rollback-1').expect(404);
  });

  it('a deletion reaches the hooks as a version without content', async () => {
    const { body } = await api
      .post('/Patient')
      .set('Content-Type', JSON_TYPE)
      .send(patient('Deleted'))
      .expect(201);
    committed.length = 0;
    await api.delete(`/Patient/${body.id}`).expect(204);
    expect(committed[0]![0]).toMatchObject({
      id: body.id,
      versionId: 2,
      method: 'DELETE',
      resource: undefined,
    });
  });
});

describe('read hooks', () => {
  it('beforeOperation can refuse an operation', async () => {
    const res = await api.get('/Basic/1').expect(403);
    expect(res.body.issue[0].code).toBe('forbidden');
  });

  it('a hidden resource is invisible: read, vread and history', async () => {
    const { body } = await api
      .post('/Patient')
      .set('Content-Type', JSON_TYPE)
      .send(patient('Hidden'))
      .expect(201);
    await api.get(`/Patient/${body.id}`).expect(404);
    await api.get(`/Patient/${body.id}/_history/1`).expect(404);
    const history = await api.get('/Patient/_history').expect(200);
    expect(
      history.body.entry.some((e: { resource?: { id: string } }) => e.resource?.id === body.id),
    ).toBe(false);
    // A total counted without the filter would reveal the hidden version.
    expect(history.body.total).toBeUndefined();
  });

  it('the deletion of a hidden resource is invisible in history too', async () => {
    const { body } = await api
      .post('/Patient')
      .set('Content-Type', JSON_TYPE)
      .send(patient('Hidden'))
      .expect(201);
    await api.delete(`/Patient/${body.id}`).expect(204);
    const visible = await api
      .post('/Patient')
      .set('Content-Type', JSON_TYPE)
      .send(patient('Shown'))
      .expect(201);
    await api.delete(`/Patient/${visible.body.id}`).expect(204);
    const history = await api.get('/Patient/_history').expect(200);
    const urls = history.body.entry.map((e: { fullUrl: string }) => e.fullUrl);
    expect(urls.some((u: string) => u.endsWith(`/Patient/${body.id}`))).toBe(false);
    expect(urls.filter((u: string) => u.endsWith(`/Patient/${visible.body.id}`))).toHaveLength(2);
  });

  it('beforeReturn masks what is returned', async () => {
    const { body } = await api
      .post('/Patient')
      .set('Content-Type', JSON_TYPE)
      .send({ ...patient('Masked'), birthDate: '1970-01-01' })
      .expect(201);
    const read = await api.get(`/Patient/${body.id}`).expect(200);
    expect(read.body.birthDate).toBeUndefined();
    expect(read.body.name[0].family).toBe('Masked');
  });
});
