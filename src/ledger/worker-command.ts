import { ConfigError, loadConfig } from '../config.js';
import { connectDatabase } from '../fhir/storage/database.js';
import { migrate } from '../fhir/storage/migrate.js';
import { createLogger } from '../logger.js';
import { startAnchorWorker } from './anchor-queue.js';
import { createLedgerClient } from './ledger-client.js';

/**
 * `fhir-ledger worker`: one anchoring worker process on the BullMQ queue. Needs DATABASE_URL,
 * REDIS_URL and an existing chain (CHAIN_RPC_URL, contract addresses, SIGNER_KEY_FILE); run as
 * many as wanted. SIGTERM/SIGINT finish the current batch, then exit.
 */
export async function runWorkerCommand(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
    if (!config.databaseUrl) throw new ConfigError('the worker needs DATABASE_URL');
    if (!config.ledger?.redisUrl) throw new ConfigError('the worker needs REDIS_URL');
    if (config.ledger.chain.kind !== 'external') {
      throw new ConfigError(
        'the worker needs CHAIN_RPC_URL, the contract addresses and SIGNER_KEY_FILE',
      );
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`fhir-ledger worker: bad configuration: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const { ledger } = config;
  const chain = ledger.chain as Extract<typeof ledger.chain, { kind: 'external' }>;
  const logger = createLogger(config.logLevel);
  const db = connectDatabase(config.databaseUrl, 4);
  await migrate(db.pool);
  const client = await createLedgerClient({ rpcUrl: chain.rpcUrl, privateKey: chain.privateKey });
  const worker = startAnchorWorker({
    redisUrl: ledger.redisUrl!,
    queueName: ledger.queueName,
    stalledCheckMs: ledger.anchor.stalledCheckMs,
    concurrency: ledger.anchor.concurrency,
    logger,
    deps: {
      pool: db.pool,
      client,
      provenanceAnchor: chain.provenanceAnchor,
      confirmations: ledger.anchor.confirmations,
      receiptTimeoutMs: ledger.anchor.receiptTimeoutMs,
    },
  });
  logger.info({ queue: ledger.queueName, chainId: client.chain.id }, 'anchoring worker started');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'worker shutting down');
    worker
      .close()
      .then(() => db.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
