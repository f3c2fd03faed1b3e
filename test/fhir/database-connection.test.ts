import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../src/fhir/storage/database.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

describe('database connections', () => {
  let database: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    database = await createTestDatabase();
    db = connectDatabase(database.url);
  });
  afterAll(async () => {
    await db.close();
    await database.drop();
  });

  it('a checked-out connection that PostgreSQL terminates fails its query instead of crashing the process', async () => {
    const held = await db.pool.connect();
    const { rows } = await held.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      // What a PostgreSQL restart or failover does to every open connection.
      const ended = new Promise((resolve) => held.once('end', resolve));
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      // The termination reaches the client while it is idle, between two queries.
      await ended;
      await expect(held.query('SELECT 1')).rejects.toThrow();
    } finally {
      held.release(true);
      await admin.end();
    }
    // The pool replaces the connection: the server keeps working.
    expect((await db.pool.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
  });
});
