import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { readContract } from 'viem/actions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provenanceAnchorAbi } from '../../src/ledger/abi/provenance-anchor.js';
import { createPatients, openRows } from '../support/anchoring.js';
import { startTestChain, type TestChain, waitFor } from '../support/test-chain.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

// Own redis-server on a free port: this file stops and restarts it, never the shared one.
const ROOT = path.resolve(import.meta.dirname, '../..');
let dir: string;
let redisPort: number;
let redis: ChildProcess | undefined;
let chain: TestChain;
let server: TestServer;
let db: pg.Client;
const workers = new Set<ChildProcess>();
let workerEnv: Record<string, string>;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

async function startRedis(): Promise<void> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
    ],
    { stdio: 'ignore' },
  );
  redis = child;
  await waitFor('redis to accept connections', async () => {
    return new Promise((resolve) => {
      const socket = net.connect(redisPort, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  });
}

async function stopRedis(): Promise<void> {
  const child = redis;
  redis = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function startWorker(): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'worker'],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...workerEnv },
      stdio: 'ignore',
    },
  );
  workers.add(child);
  child.once('exit', () => workers.delete(child));
  return child;
}

async function killWorker(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-redis-'));
  redisPort = await freePort();
  await startRedis();
  chain = await startTestChain();
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const queueName = `anchor-test-${process.pid}`;
  server = await startTestServer({
    ledger: chain.ledgerConfig({ redisUrl, queueName, batchSize: 6 }),
  });
  db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
  const keyFile = path.join(dir, 'signer.key');
  await writeFile(keyFile, chain.operatorKey);
  const ledger = chain.ledgerConfig();
  const external = ledger.chain as Extract<typeof ledger.chain, { kind: 'external' }>;
  workerEnv = {
    DATABASE_URL: server.databaseUrl,
    REDIS_URL: redisUrl,
    ANCHOR_QUEUE: queueName,
    CHAIN_RPC_URL: chain.rpcUrl,
    CONSENT_REGISTRY_ADDRESS: external.consentRegistry,
    PROVENANCE_ANCHOR_ADDRESS: external.provenanceAnchor,
    SIGNER_KEY_FILE: keyFile,
    ANCHOR_RECEIPT_TIMEOUT_MS: '60000',
    // A SIGKILLed worker's job is taken up again within ~2 s instead of ~10 s.
    ANCHOR_STALLED_CHECK_MS: '1000',
    LOG_LEVEL: 'silent',
  };
}, 60_000);

afterAll(async () => {
  for (const worker of [...workers]) await killWorker(worker, 'SIGKILL');
  await db?.end();
  await server?.close();
  await chain?.stop();
  await stopRedis();
  await rm(dir, { recursive: true, force: true });
});

async function expectEachRootOnceOnChain(): Promise<void> {
  const { rows } = await db.query<{ root: Buffer }>('SELECT root FROM anchor_batch');
  const roots = rows.map((r) => r.root.toString('hex'));
  expect(new Set(roots).size).toBe(roots.length);
  const count = await readContract(chain.admin, {
    address: chain.provenanceAnchor,
    abi: provenanceAnchorAbi,
    functionName: 'anchorCount',
  });
  expect(Number(count)).toBe(roots.length);
}

describe('anchoring through Redis with separate worker processes', () => {
  it('anchors what the API enqueues', async () => {
    startWorker();
    await createPatients(server, 5, 'Queued');
    await waitFor(
      'every version anchored by the worker',
      async () => (await openRows(db)) === 0,
      60_000,
    );
    await expectEachRootOnceOnChain();
  });

  it('keeps accepting writes while Redis is down and anchors everything once it is back', async () => {
    await stopRedis();
    const started = Date.now();
    await createPatients(server, 4, 'NoRedis');
    // Writes never wait on Redis (each is a few ms; generous bound for a slow machine).
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await openRows(db)).toBeGreaterThan(0);
    await startRedis();
    await waitFor(
      'the backlog anchored after Redis returned',
      async () => (await openRows(db)) === 0,
      60_000,
    );
    await expectEachRootOnceOnChain();
  });

  it('re-runs a batch whose worker was SIGKILLed after sending, without anchoring twice', async () => {
    await chain.rpc('evm_setAutomine', [false]);
    try {
      await createPatients(server, 2, 'Killed');
      await waitFor('the worker to send the anchor transaction', async () => {
        const { rows } = await db.query(
          'SELECT count(*)::int AS n FROM anchor_batch WHERE anchored_at IS NULL AND tx_hash IS NOT NULL',
        );
        return rows[0].n > 0;
      });
      for (const worker of [...workers]) await killWorker(worker, 'SIGKILL');
      await chain.rpc('evm_mine');
    } finally {
      await chain.rpc('evm_setAutomine', [true]);
    }
    expect(await openRows(db)).toBeGreaterThan(0);
    startWorker();
    await waitFor(
      'the killed batch anchored by a new worker',
      async () => (await openRows(db)) === 0,
      60_000,
    );
    await expectEachRootOnceOnChain();
  });
});
