import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createApp } from './app.js';
import { createAuth } from './auth/create-auth.js';
import type { Config } from './config.js';
import { type RunningConsent, startConsent } from './consent/start-consent.js';
import { loadDefinitions } from './fhir/definitions.js';
import { createHooks, type FhirHooks } from './fhir/hooks.js';
import type { Services } from './fhir/interactions/types.js';
import { routes } from './fhir/route-table.js';
import { createParamResolver } from './fhir/search/search-parameters.js';
import { connectDatabase, type Database } from './fhir/storage/database.js';
import { startEmbeddedPostgres } from './fhir/storage/embedded-postgres.js';
import { migrate } from './fhir/storage/migrate.js';
import { createResourceStore } from './fhir/storage/resource-store.js';
import { type RunningLedger, startLedger } from './ledger/start-ledger.js';
import type { Logger } from './logger.js';
import { registerProvenance } from './provenance/record-provenance.js';

export interface RunningServer {
  /** http://host:port of the listening server. */
  url: string;
  services: Services;
  /** The chain, contracts and relay, when configured. */
  ledger?: RunningLedger;
  /** Consent enforcement and audit: present whenever the ledger is. */
  consent?: RunningConsent;
  close(): Promise<void>;
}

export interface StartOptions {
  config: Config;
  logger: Logger;
  /** Lets callers (and later modules) register consent/provenance listeners before requests flow. */
  registerHooks?: (hooks: FhirHooks, db: Database) => void | Promise<void>;
}

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/**
 * The composition root: picks the database from configuration (DATABASE_URL, or
 * the embedded PostgreSQL in the data folder), migrates it, builds the services
 * once and starts listening.
 */
export async function startServer({
  config,
  logger,
  registerHooks,
}: StartOptions): Promise<RunningServer> {
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres(config.dataDir);
  const db = connectDatabase(config.databaseUrl ?? embedded!.url);
  let ledger: RunningLedger | undefined;
  let consent: RunningConsent | undefined;
  try {
    const applied = await migrate(db.pool);
    if (applied.length) logger.info({ applied }, 'database migrated');
    const definitions = loadDefinitions();
    const hooks = createHooks();
    const params = createParamResolver(definitions);
    const auth = await createAuth({
      settings: config.auth,
      db,
      params,
      isType: (t) => definitions.isResourceType(t),
      logger,
      publicBaseUrl: config.publicBaseUrl,
    });
    // Scope checks first: a refused call must not reach consent or provenance listeners.
    auth.registerHooks(hooks);
    await registerHooks?.(hooks, db);
    registerProvenance(hooks, definitions);
    const services: Services = {
      db,
      definitions,
      hooks,
      params,
      routes,
      store: createResourceStore(db, hooks, params, (err) =>
        logger.error({ err }, 'afterCommit hook failed'),
      ),
      software: { name: 'fhir-ledger', version: pkg.version },
      security: auth.security,
    };
    const app = createApp({
      services,
      logger,
      maxBodyBytes: config.maxBodyBytes,
      publicBaseUrl: config.publicBaseUrl,
      authRouter: auth.router,
      authenticate: auth.authenticate,
    });
    if (config.ledger) {
      ledger = await startLedger({
        config: config.ledger,
        dataDir: config.dataDir,
        allowCustodianGrants: config.consent.custodianGrants,
        pool: db.pool,
        logger,
      });
      services.ledger = ledger.operations;
      // Committed versions are claimed right away rather than at the relay's next tick.
      const running = ledger;
      hooks.afterCommit.push(async () => running.wakeRelay());
      consent = await startConsent({
        config: config.consent,
        ledger,
        services,
        logger,
        registry: auth.registry,
      });
    }
    const server = await listen(app, config.port, config.host);
    const address = server.address() as import('node:net').AddressInfo;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    return {
      url: `http://${host}:${address.port}`,
      services,
      ledger,
      consent,
      async close() {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await consent?.stop();
        await ledger?.stop();
        await db.close();
        await embedded?.stop();
      },
    };
  } catch (err) {
    await consent?.stop().catch(() => {});
    await ledger?.stop().catch(() => {});
    await db.close().catch(() => {});
    await embedded?.stop().catch(() => {});
    throw err;
  }
}

function listen(app: import('express').Express, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(server)));
    server.once('error', reject);
  });
}
