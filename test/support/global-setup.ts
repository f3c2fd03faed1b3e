import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/fhir/storage/embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL server URL; each test file creates its own database on it. */
    postgresUrl: string;
  }
}

/**
 * Uses the PostgreSQL named by DATABASE_URL when set (CI points it at the
 * machine's server); otherwise starts the embedded PostgreSQL in a temporary folder.
 */
export default async function setup(project: TestProject) {
  const given = process.env.DATABASE_URL;
  if (given) {
    project.provide('postgresUrl', given);
    return;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-test-'));
  const pg = await startEmbeddedPostgres(dir);
  project.provide('postgresUrl', pg.url);
  return async () => {
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
