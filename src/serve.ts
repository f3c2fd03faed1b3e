import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startServer } from './server.js';

/**
 * `fhir-ledger serve` and `npm start`: configuration from the environment,
 * graceful shutdown on SIGTERM/SIGINT.
 */
export async function serve(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`fhir-ledger: bad configuration: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const server = await startServer({ config, logger });
  logger.info(
    { url: `${server.url}/fhir`, embeddedDatabase: !config.databaseUrl },
    'fhir-ledger listening',
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export function failedToStart(err: unknown): never {
  console.error('fhir-ledger: failed to start:', err);
  process.exit(1);
}
