import type { Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { type RunningServer, type StartOptions, startServer } from '../../src/server.js';
import { createTestDatabase } from './test-database.js';

export interface TestServer extends RunningServer {
  /** The FHIR base URL, e.g. http://127.0.0.1:40123/fhir */
  base: string;
  databaseUrl: string;
}

/** The real server on a free port, with its own fresh database. */
export async function startTestServer(
  overrides: Partial<Config> = {},
  registerHooks?: StartOptions['registerHooks'],
): Promise<TestServer> {
  const database = await createTestDatabase();
  const config: Config = {
    port: 0,
    host: '127.0.0.1',
    dataDir: '/nonexistent-data-dir-unused-with-database-url',
    databaseUrl: database.url,
    publicBaseUrl: undefined,
    logLevel: 'silent',
    maxBodyBytes: 1024 * 1024,
    ...overrides,
  };
  const server = await startServer({
    config,
    logger: createLogger(config.logLevel),
    registerHooks,
  });
  return {
    ...server,
    base: `${server.url}/fhir`,
    databaseUrl: database.url,
    async close() {
      await server.close();
      await database.drop();
    },
  };
}
