import type { Patient } from 'fhir/r4.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FHIR_JSON, type SearchApi, startSearchApi } from './search-helpers.js';

/** Index rows are written in the write's transaction: a write that rolls back leaves none. */
let s: SearchApi;
let db: pg.Client;

const TABLES = [
  'token_index',
  'string_index',
  'date_index',
  'number_index',
  'quantity_index',
  'reference_index',
  'uri_index',
];

async function indexRowCount(type: string, id: string): Promise<number> {
  let total = 0;
  for (const table of TABLES) {
    const { rows } = await db.query(
      `SELECT count(*)::int AS n FROM ${table} WHERE resource_type = $1 AND id = $2`,
      [type, id],
    );
    total += rows[0].n as number;
  }
  return total;
}

const patient = (id: string, family: string): Patient => ({
  resourceType: 'Patient',
  id,
  name: [{ family }],
  birthDate: '1980-05-06',
  identifier: [{ system: 'urn:mrn', value: id }],
  managingOrganization: { reference: 'Organization/o1' },
});

beforeAll(async () => {
  s = await startSearchApi((hooks) => {
    hooks.beforeCommit.unshift(async (_tx, versions) => {
      const p = versions[0]?.resource as Patient | undefined;
      if (p?.name?.[0]?.family === 'Rollback') throw new Error('refused in beforeCommit');
    });
  });
  db = new pg.Client({ connectionString: s.server.databaseUrl });
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await s?.server.close();
});

describe('index rows and transactions', () => {
  it('a committed write has rows in the index tables', async () => {
    await s.put(patient('kept', 'Kept'));
    expect(await indexRowCount('Patient', 'kept')).toBeGreaterThanOrEqual(5);
    expect(await s.ids('/Patient?family=kept&birthdate=1980-05-06&organization=o1')).toEqual([
      'kept',
    ]);
  });

  it('a create rolled back by a failing beforeCommit leaves no index rows', async () => {
    const res = await s.api
      .put('/Patient/dropped')
      .set('Content-Type', FHIR_JSON)
      .send(patient('dropped', 'Rollback'));
    expect(res.status).toBe(500);
    expect(await indexRowCount('Patient', 'dropped')).toBe(0);
    expect(await s.ids('/Patient?family=rollback')).toEqual([]);
  });

  it("an update rolled back leaves the previous version's index rows in place", async () => {
    const before = await indexRowCount('Patient', 'kept');
    const res = await s.api
      .put('/Patient/kept')
      .set('Content-Type', FHIR_JSON)
      .send(patient('kept', 'Rollback'));
    expect(res.status).toBe(500);
    expect(await indexRowCount('Patient', 'kept')).toBe(before);
    expect(await s.ids('/Patient?family=kept')).toEqual(['kept']);
    expect(await s.ids('/Patient?family=rollback')).toEqual([]);
  });

  it('an update replaces the rows: the old value is no longer found', async () => {
    await s.put(patient('kept', 'Renamed'));
    expect(await s.ids('/Patient?family=kept')).toEqual([]);
    expect(await s.ids('/Patient?family=renamed')).toEqual(['kept']);
  });

  it('a deleted resource is no longer found', async () => {
    await s.api.delete('/Patient/kept');
    expect(await s.ids('/Patient?family=renamed')).toEqual([]);
    expect(await s.ids('/Patient?identifier=urn:mrn|kept')).toEqual([]);
  });
});
