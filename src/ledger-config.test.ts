import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

let dir: string;
let keyFile: string;
const KEY = `0x${'ab'.repeat(32)}`;
const ANCHOR = `0x${'11'.repeat(20)}`;
const REGISTRY = `0x${'22'.repeat(20)}`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ledger-config-'));
  keyFile = path.join(dir, 'key');
  await writeFile(keyFile, `${KEY}\n`);
  await writeFile(path.join(dir, 'bad-key'), 'not a key');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('ledger configuration', () => {
  it('defaults to the embedded chain, in-process anchoring and 20 000-version batches', () => {
    expect(loadConfig({}).ledger).toEqual({
      chain: { kind: 'embedded', port: 8545, blockTime: undefined },
      redisUrl: undefined,
      queueName: 'anchor',
      anchor: {
        batchSize: 20_000,
        confirmations: 1,
        intervalMs: 500,
        receiptTimeoutMs: 120_000,
        redispatchAfterMs: 600_000,
        stalledCheckMs: 5000,
        concurrency: 4,
      },
    });
  });

  it('reads an external chain, Redis and the anchoring knobs', () => {
    const ledger = loadConfig({
      CHAIN_RPC_URL: 'http://besu:8545',
      CHAIN_PUBLIC_RPC_URL: 'https://rpc.example.org',
      CONSENT_REGISTRY_ADDRESS: REGISTRY,
      PROVENANCE_ANCHOR_ADDRESS: ANCHOR,
      SIGNER_KEY_FILE: keyFile,
      REDIS_URL: 'redis://127.0.0.1:6379',
      ANCHOR_QUEUE: 'anchor-eu',
      ANCHOR_BATCH_SIZE: '500',
      ANCHOR_CONFIRMATIONS: '3',
      ANCHOR_INTERVAL_MS: '250',
      ANCHOR_RECEIPT_TIMEOUT_MS: '30000',
      ANCHOR_REDISPATCH_MS: '60000',
      ANCHOR_STALLED_CHECK_MS: '1000',
      ANCHOR_CONCURRENCY: '2',
    }).ledger;
    expect(ledger).toEqual({
      chain: {
        kind: 'external',
        rpcUrl: 'http://besu:8545',
        publicRpcUrl: 'https://rpc.example.org',
        consentRegistry: REGISTRY,
        provenanceAnchor: ANCHOR,
        privateKey: KEY,
      },
      redisUrl: 'redis://127.0.0.1:6379',
      queueName: 'anchor-eu',
      anchor: {
        batchSize: 500,
        confirmations: 3,
        intervalMs: 250,
        receiptTimeoutMs: 30_000,
        redispatchAfterMs: 60_000,
        stalledCheckMs: 1000,
        concurrency: 2,
      },
    });
    expect(loadConfig({ CHAIN_PORT: '9545', CHAIN_BLOCK_TIME: '1' }).ledger?.chain).toEqual({
      kind: 'embedded',
      port: 9545,
      blockTime: 1,
    });
  });

  it.each([
    [{ REDIS_URL: 'http://x' }, /REDIS_URL must use redis: or rediss:/],
    [{ CHAIN_RPC_URL: 'http://x:8545' }, /CONSENT_REGISTRY_ADDRESS is required/],
    [{ CHAIN_RPC_URL: 'http://x', CONSENT_REGISTRY_ADDRESS: '0x12' }, /must be a 0x-prefixed/],
    [{ ANCHOR_BATCH_SIZE: '0' }, /ANCHOR_BATCH_SIZE must be an integer from 1/],
    [{ ANCHOR_CONFIRMATIONS: 'many' }, /ANCHOR_CONFIRMATIONS must be an integer/],
    [{ CHAIN_BLOCK_TIME: '0' }, /CHAIN_BLOCK_TIME must be an integer from 1/],
    [{ ANCHOR_QUEUE: 'a b' }, /ANCHOR_QUEUE may hold/],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('requires a readable signer key file and never echoes its content', () => {
    const base = {
      CHAIN_RPC_URL: 'http://x:8545',
      CONSENT_REGISTRY_ADDRESS: REGISTRY,
      PROVENANCE_ANCHOR_ADDRESS: ANCHOR,
    };
    expect(() => loadConfig(base)).toThrow(/SIGNER_KEY_FILE is required/);
    expect(() => loadConfig({ ...base, SIGNER_KEY_FILE: path.join(dir, 'none') })).toThrow(
      /cannot be read/,
    );
    expect(() => loadConfig({ ...base, SIGNER_KEY_FILE: path.join(dir, 'bad-key') })).toThrow(
      /^SIGNER_KEY_FILE must hold a 32-byte hex private key$/,
    );
  });
});
