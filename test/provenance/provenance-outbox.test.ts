import type { Bundle, Patient, Provenance } from 'fhir/r4.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash, toHex } from '../../src/provenance/content-hash.js';
import { HARNESS_CLIENT, startTestServer, type TestServer } from '../support/test-server.js';

const JSON_TYPE = 'application/fhir+json';
let server: TestServer;
let api: TestServer['api'];
let db: pg.Client;

beforeAll(async () => {
  server = await startTestServer();
  // Runs after the provenance listener: a failure here must undo everything before it.
  server.services.hooks.beforeCommit.push(async (_tx, versions) => {
    const family = (versions[0]?.resource as Patient | undefined)?.name?.[0]?.family;
    if (family === 'Rollback') throw new Error('a later listener failed');
  });
  api = server.api;
  db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await server?.close();
});

const createPatient = (family: string, headers: Record<string, string> = {}) =>
  api
    .post('/Patient')
    .set('Content-Type', JSON_TYPE)
    .set(headers)
    .send({ resourceType: 'Patient', name: [{ family }] } satisfies Patient);

async function provenancesOf(ref: string): Promise<Provenance[]> {
  const res = await api.get('/Provenance').query({ target: ref }).expect(200);
  return ((res.body as Bundle).entry ?? []).map((e) => e.resource as Provenance);
}

async function outbox(type: string, id: string) {
  const { rows } = await db.query<{ version_id: number; content_hash: Buffer }>(
    'SELECT version_id, content_hash FROM anchor_outbox WHERE resource_type = $1 AND id = $2 ORDER BY version_id',
    [type, id],
  );
  return rows;
}

describe('Provenance and outbox rows in the write transaction', () => {
  it('records a create: Provenance searchable by target, outbox rows for both versions', async () => {
    const { body } = await createPatient('Chalmers').expect(201);
    const [provenance, ...more] = await provenancesOf(`Patient/${body.id}`);
    expect(more).toHaveLength(0);
    expect(provenance?.target).toEqual([{ reference: `Patient/${body.id}/_history/1` }]);
    expect(provenance?.recorded).toBe(body.meta.lastUpdated);
    expect(provenance?.activity?.coding?.[0]?.code).toBe('CREATE');
    // The agent is the caller of the access token (the harness's backend-services client).
    expect(provenance?.agent[0]?.who?.display).toBe(`client ${HARNESS_CLIENT}`);
    expect(provenance?.agent[0]?.who?.identifier?.value).toBe(HARNESS_CLIENT);

    const vread = await api.get(`/Patient/${body.id}/_history/1`).expect(200);
    const rows = await outbox('Patient', body.id);
    expect(rows.map((r) => r.version_id)).toEqual([1]);
    expect(toHex(rows[0]!.content_hash)).toBe(toHex(contentHash(vread.body)));
    // The Provenance itself is anchored, but has no Provenance of its own.
    expect(await outbox('Provenance', provenance!.id!)).toHaveLength(1);
    expect(await provenancesOf(`Provenance/${provenance!.id}`)).toHaveLength(0);
  });

  it('completes and stores the X-Provenance header', async () => {
    const given: Provenance = {
      resourceType: 'Provenance',
      recorded: '2000-01-01T00:00:00Z',
      target: [],
      agent: [{ who: { display: 'Dr. Adams (dictated)' } }],
      reason: [{ text: 'discharge summary' }],
    };
    const { target: _t, recorded: _r, ...header } = given;
    const { body } = await createPatient('Header', {
      'X-Provenance': JSON.stringify(header),
    }).expect(201);
    const [provenance] = await provenancesOf(`Patient/${body.id}`);
    expect(provenance?.target).toEqual([{ reference: `Patient/${body.id}/_history/1` }]);
    expect(provenance?.recorded).toBe(body.meta.lastUpdated);
    expect(provenance?.agent.map((a) => a.who?.display)).toEqual([
      `client ${HARNESS_CLIENT}`,
      'Dr. Adams (dictated)',
    ]);
    expect(provenance?.reason).toEqual([{ text: 'discharge summary' }]);
  });

  it('refuses an X-Provenance header with a target, storing nothing', async () => {
    const before = await db.query('SELECT count(*)::int AS n FROM resource_version');
    const header = { resourceType: 'Provenance', target: [{ reference: 'Patient/x' }] };
    await createPatient('Refused', { 'X-Provenance': JSON.stringify(header) }).expect(400);
    await createPatient('Refused', { 'X-Provenance': '{not json' }).expect(400);
    const after = await db.query('SELECT count(*)::int AS n FROM resource_version');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('records a deletion with activity DELETE and anchors the tombstone', async () => {
    const { body } = await createPatient('Deleted').expect(201);
    await api.put(`/Patient/${body.id}`).set('Content-Type', JSON_TYPE).send(body).expect(200);
    await api.delete(`/Patient/${body.id}`).expect((res) => expect(res.status).toBeLessThan(300));
    const codes = (await provenancesOf(`Patient/${body.id}`))
      .map((p) => [p.target[0]?.reference, p.activity?.coding?.[0]?.code])
      .sort();
    expect(codes).toEqual([
      [`Patient/${body.id}/_history/1`, 'CREATE'],
      [`Patient/${body.id}/_history/2`, 'UPDATE'],
      [`Patient/${body.id}/_history/3`, 'DELETE'],
    ]);
    expect((await outbox('Patient', body.id)).map((r) => r.version_id)).toEqual([1, 2, 3]);
  });

  it('gives a transaction Bundle one Provenance per activity, listing every version', async () => {
    await api
      .put('/Patient/tx-existing')
      .set('Content-Type', JSON_TYPE)
      .send({ resourceType: 'Patient', id: 'tx-existing', name: [{ family: 'Before' }] })
      .expect(201);
    const bundle: Bundle<Patient> = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        ...['A', 'B', 'C'].map((family) => ({
          resource: {
            resourceType: 'Patient',
            name: [{ family: `Tx${family}` }],
          } satisfies Patient,
          request: { method: 'POST' as const, url: 'Patient' },
        })),
        {
          resource: {
            resourceType: 'Patient',
            id: 'tx-existing',
            name: [{ family: 'After' }],
          } satisfies Patient,
          request: { method: 'PUT', url: 'Patient/tx-existing' },
        },
      ],
    };
    const res = await api.post('/').set('Content-Type', JSON_TYPE).send(bundle).expect(200);
    const refs = (res.body as Bundle).entry!.map((e) =>
      e.response!.location!.replace(/^.*\/fhir\//, ''),
    );
    const [created, updated] = [refs.slice(0, 3), refs[3]!];
    expect(updated).toBe('Patient/tx-existing/_history/2');
    const [forCreates, ...moreCreates] = await provenancesOf(created[0]!.split('/_history')[0]!);
    expect(moreCreates).toHaveLength(0);
    expect(forCreates?.target.map((t) => t.reference).sort()).toEqual([...created].sort());
    expect(forCreates?.activity?.coding?.[0]?.code).toBe('CREATE');
    for (const ref of created.slice(1)) {
      const [same] = await provenancesOf(ref.split('/_history')[0]!);
      expect(same?.id).toBe(forCreates?.id);
    }
    const forUpdate = (await provenancesOf('Patient/tx-existing')).find(
      (p) => p.activity?.coding?.[0]?.code === 'UPDATE',
    );
    expect(forUpdate?.target).toEqual([{ reference: updated }]);
    // Each version keeps its own outbox row (its own leaf), and so do the two Provenances.
    for (const ref of created) expect(await outbox('Patient', ref.split('/')[1]!)).toHaveLength(1);
    expect((await outbox('Patient', 'tx-existing')).map((r) => r.version_id)).toEqual([1, 2]);
    expect(await outbox('Provenance', forCreates!.id!)).toHaveLength(1);
    expect(await outbox('Provenance', forUpdate!.id!)).toHaveLength(1);
  });

  it('rolls back resource, Provenance and outbox together when a later listener fails', async () => {
    const count = async () =>
      (
        await db.query(
          `SELECT (SELECT count(*) FROM resource_version)::int AS versions,
                  (SELECT count(*) FROM anchor_outbox)::int AS outbox`,
        )
      ).rows[0];
    const before = await count();
    await createPatient('Rollback').expect(500);
    expect(await count()).toEqual(before);
  });
});
