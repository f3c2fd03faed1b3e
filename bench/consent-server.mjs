/**
 * The server for bench/consent.ts, configured from the environment like `fhir-ledger serve`;
 * with `--no-ledger` it runs without a chain, i.e. without consent enforcement: the baseline.
 * It runs the built server (dist/, as `npm start` does), not the sources through tsx, whose
 * transform adds work to every call. Prints one JSON line `{"msg":"listening","url":...}`
 * once it listens.
 */
import { loadConfig } from '../dist/config.js';
import { createLogger } from '../dist/logger.js';
import { startServer } from '../dist/server.js';

const config = loadConfig();
const withoutLedger = process.argv.includes('--no-ledger');
const server = await startServer({
  config: withoutLedger ? { ...config, ledger: undefined } : config,
  logger: createLogger(config.logLevel),
});
console.log(JSON.stringify({ msg: 'listening', url: server.url }));
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
