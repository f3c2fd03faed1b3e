import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { fetchToken, generateClientKey } from '../../src/auth/backend-services-client.js';
import type { RegisteredClient, TrustedIssuer } from '../../src/auth/client-registry.js';
import { saveClient } from '../../src/auth/client-registry.js';
import { loadServerKey } from '../../src/auth/server-key.js';
import type { Config } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { type RunningServer, type StartOptions, startServer } from '../../src/server.js';
import { createTestDatabase } from './test-database.js';

export interface TestServer extends RunningServer {
  /** The FHIR base URL, e.g. http://127.0.0.1:40123/fhir */
  base: string;
  databaseUrl: string;
  /** Registry file of this server (clients and issuers). */
  registryFile: string;
  /** The server's private signing JWK (to forge tokens in negative tests). */
  signingKey: object;
  /** Access token of the harness client (HARNESS_SCOPE), got through the token endpoint. */
  token: string;
  /** supertest against the FHIR base with that token: `server.api.get('/Patient')`. */
  api: ReturnType<typeof request.agent>;
}

export interface TestServerOptions {
  /** Extra registered clients and trusted issuers. */
  clients?: RegisteredClient[];
  issuers?: TrustedIssuer[];
  /** The server's logger (default: silent at config.logLevel), e.g. to inspect what is logged. */
  logger?: Logger;
}

/** One signing key and one harness client key per test process: RSA generation is slow. */
let shared: Promise<{ keyFile: string; client: Awaited<ReturnType<typeof generateClientKey>> }>;
function sharedKeys() {
  shared ??= (async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fhir-ledger-test-keys-'));
    const keyFile = path.join(dir, 'signing-key.json');
    await loadServerKey(keyFile);
    return { keyFile, client: await generateClientKey() };
  })();
  return shared;
}

export const HARNESS_CLIENT = 'test-harness';
/** Everything, and (being a custodian client) recording consents for patients. */
export const HARNESS_SCOPE = 'system/*.cruds consent/custodian';

/** The real server on a free port, with its own fresh database; auth is on, as always. */
export async function startTestServer(
  overrides: Partial<Config> = {},
  registerHooks?: StartOptions['registerHooks'],
  options: TestServerOptions = {},
): Promise<TestServer> {
  const database = await createTestDatabase();
  const keys = await sharedKeys();
  const dir = await mkdtemp(path.join(tmpdir(), 'fhir-ledger-test-auth-'));
  const registryFile = path.join(dir, 'registry.json');
  for (const client of [
    {
      clientId: HARNESS_CLIENT,
      jwks: keys.client.jwks,
      scope: HARNESS_SCOPE,
    } as RegisteredClient,
    ...(options.clients ?? []),
  ]) {
    await saveClient(registryFile, client);
  }
  if (options.issuers?.length) {
    const { writeFile, readFile } = await import('node:fs/promises');
    const registry = JSON.parse(await readFile(registryFile, 'utf8'));
    await writeFile(registryFile, JSON.stringify({ ...registry, issuers: options.issuers }));
  }
  const config: Config = {
    port: 0,
    host: '127.0.0.1',
    dataDir: '/nonexistent-data-dir-unused-with-database-url',
    databaseUrl: database.url,
    publicBaseUrl: undefined,
    logLevel: 'silent',
    maxBodyBytes: 1024 * 1024,
    auth: {
      registryFile,
      signingKeyFile: keys.keyFile,
      // Long enough for the slowest test file; expiry is tested with hand-made tokens.
      tokenLifetimeSeconds: 3600,
      jwksCacheSeconds: 600,
    },
    // Consent is in force whenever a test gives a ledger; the harness client is the custodian.
    consent: {
      saltFile: path.join(dir, 'consent-salt'),
      fromBlock: 0n,
      maxStalenessBlocks: 2,
      maxHeadAgeMs: 5000,
      pollIntervalMs: 50,
      confirmations: 0,
      custodianClients: [HARNESS_CLIENT],
      custodianGrants: true,
      auditFlushMs: 50,
      auditMaxPending: 50_000,
      auditGroup: true,
    },
    ...overrides,
  };
  const server = await startServer({
    config,
    logger: options.logger ?? createLogger(config.logLevel),
    registerHooks,
  });
  const base = `${server.url}/fhir`;
  try {
    const { accessToken } = await fetchToken({
      fhirBaseUrl: base,
      clientId: HARNESS_CLIENT,
      privateKey: keys.client.privateKey,
      scope: HARNESS_SCOPE,
    });
    const signingKey = JSON.parse(
      await (await import('node:fs/promises')).readFile(keys.keyFile, 'utf8'),
    ) as object;
    return {
      ...server,
      base,
      databaseUrl: database.url,
      registryFile,
      signingKey,
      token: accessToken,
      api: request.agent(base).set('Authorization', `Bearer ${accessToken}`),
      async close() {
        await server.close();
        await database.drop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server.close();
    await database.drop();
    throw err;
  }
}
