import type pg from 'pg';
import type { TestServer } from './test-server.js';

/** Creates `count` Patients named `<family><i>` through the API. */
export async function createPatients(
  server: TestServer,
  count: number,
  family: string,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    await server.api
      .post('/Patient')
      .set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'Patient', name: [{ family: `${family}${i}` }] })
      .expect(201);
  }
}

/** Outbox rows whose batch is not anchored yet (or that have no batch). */
export async function openRows(db: pg.ClientBase): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM anchor_leaf o LEFT JOIN anchor_batch b ON b.id = o.batch_id
      WHERE b.anchored_at IS NULL`,
  );
  return rows[0]!.n;
}
