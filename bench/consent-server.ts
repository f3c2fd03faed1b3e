/**
 * The server for bench/consent.ts, configured from the environment like `fhir-ledger serve`;
 * with `--no-ledger` it runs without a chain, i.e. without consent enforcement: the baseline.
 * Prints one JSON line `{"msg":"listening","url":...}` once it listens.
 */
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startServer } from '../src/server.js';

const config = loadConfig();
const withoutLedger = process.argv.includes('--no-ledger');
const server = await startServer({
  config: withoutLedger ? { ...config, ledger: undefined } : config,
  logger: createLogger(config.logLevel),
});
console.log(JSON.stringify({ msg: 'listening', url: server.url }));
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
