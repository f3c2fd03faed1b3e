/**
 * Anchoring benchmark, two measurements in one run:
 *
 *  (a) backlog: N outbox rows (inserted directly, as the write path leaves them) drained by the
 *      real relay and in-process anchoring onto an embedded anvil (a block per transaction):
 *      versions anchored per second, gas per version (gas used / versions anchored);
 *  (b) sustained writes: the built server (`dist/main.js`) with anvil at 1-second blocks under
 *      a steady POST load: write-to-anchored latency p50/p95 (outbox recorded_at to the batch's
 *      anchored_at, both PostgreSQL's clock), and gas per version.
 *
 *   npm run bench:anchoring [-- --backlog 200000 --batch 20000 --seconds 20 --connections 8
 *                              --interval 500 --skip-backlog --skip-load]
 *
 * Uses DATABASE_URL's server when set, otherwise an embedded PostgreSQL in a temporary folder.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPublicClient, type Hash, http } from 'viem';
import { getTransactionReceipt } from 'viem/actions';
import { defaultAuthPaths, localAccessToken } from '../src/auth/auth-command.js';
import { loadConfig } from '../src/config.js';
import { connectDatabase } from '../src/fhir/storage/database.js';
import { startEmbeddedPostgres } from '../src/fhir/storage/embedded-postgres.js';
import { migrate } from '../src/fhir/storage/migrate.js';
import { startLedger } from '../src/ledger/start-ledger.js';
import { createLogger } from '../src/logger.js';
import { spawnServer } from './spawn-server.js';

const { values: args } = parseArgs({
  options: {
    backlog: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '8' },
    /** Relay interval of the load phase (ANCHOR_INTERVAL_MS). */
    interval: { type: 'string', default: '500' },
    'skip-backlog': { type: 'boolean', default: false },
    'skip-load': { type: 'boolean', default: false },
  },
});
const backlog = Number(args.backlog);
const batchSize = String(Number(args.batch));
const seconds = Number(args.seconds);
const connections = Number(args.connections);

const work = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-bench-anchoring-'));
const given = loadConfig().databaseUrl;
const embedded = given ? undefined : await startEmbeddedPostgres(work);
const serverUrl = given ?? embedded!.url;
const children: ChildProcess[] = [];

async function createDatabase(): Promise<string> {
  const name = `fhir_ledger_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function gasUsed(pool: pg.Pool, rpcUrl: string): Promise<{ gas: bigint; txs: number }> {
  const client = createPublicClient({ transport: http(rpcUrl) });
  const { rows } = await pool.query<{ tx: string }>(
    `SELECT '0x' || encode(tx_hash, 'hex') AS tx FROM anchor_batch WHERE anchored_at IS NOT NULL`,
  );
  let gas = 0n;
  for (const { tx } of rows) {
    gas += (await getTransactionReceipt(client, { hash: tx as Hash })).gasUsed;
  }
  return { gas, txs: rows.length };
}

const open = (pool: pg.Pool) => async () => {
  // Nothing after the last claimed range and no batch open (legacy per-row batches: none here).
  const { rows } = await pool.query(
    `SELECT NOT EXISTS (SELECT 1 FROM anchor_batch WHERE anchored_at IS NULL)
        AND NOT EXISTS (SELECT 1 FROM anchor_outbox
                         WHERE seq > (SELECT coalesce(max(last_seq), 0) FROM anchor_batch)) AS done`,
  );
  return rows[0].done === true;
};

/** (a) A backlog of outbox rows drained by the relay and the in-process anchoring. */
async function drainBacklog() {
  const db = connectDatabase(await createDatabase(), 8);
  await migrate(db.pool);
  let started = performance.now();
  // Leaves are random-looking 32-byte values, as keccak leaves are; hashing is the write path's.
  await db.pool.query(
    `INSERT INTO anchor_outbox (resource_type, id, version_id, content_hash, leaf)
     SELECT 'Patient', 'bench-' || i, 1, sha256(('c' || i)::bytea), sha256(('l' || i)::bytea)
       FROM generate_series(1, $1::int) AS i`,
    [backlog],
  );
  const insertSeconds = (performance.now() - started) / 1000;
  const ledger = await startLedger({
    config: loadConfig({ CHAIN_PORT: '0', ANCHOR_BATCH_SIZE: batchSize }).ledger!,
    dataDir: path.join(work, 'backlog'),
    allowCustodianGrants: true,
    pool: db.pool,
    logger: createLogger('warn'),
  });
  started = performance.now();
  await until(open(db.pool), 30 * 60_000, 'the backlog to drain');
  const drainSeconds = (performance.now() - started) / 1000;
  const { gas, txs } = await gasUsed(db.pool, ledger.rpcUrl);
  // Where the time goes: batches cut by the relay vs. anchored one at a time.
  const { rows } = await db.pool.query(
    `SELECT extract(epoch FROM max(created_at) - min(created_at)) AS cut_span,
            avg(extract(epoch FROM anchored_at - sent_at)) * 1000 AS send_to_anchored_ms,
            extract(epoch FROM max(anchored_at) - min(anchored_at)) / greatest(count(*) - 1, 1) * 1000
              AS per_batch_ms
       FROM anchor_batch`,
  );
  const t = rows[0];
  await ledger.stop();
  await db.close();
  console.log(
    `(a) backlog of ${backlog} versions (inserted in ${insertSeconds.toFixed(1)} s), batches of ${batchSize}:\n` +
      `    drained in ${drainSeconds.toFixed(1)} s = ${Math.round(backlog / drainSeconds)} versions anchored/s, ` +
      `${txs} transactions, ${gas} gas = ${(Number(gas) / backlog).toFixed(2)} gas/version\n` +
      `    relay cut every batch within ${Number(t.cut_span).toFixed(1)} s; anchoring took ` +
      `${Number(t.per_batch_ms).toFixed(0)} ms per batch, of which ${Number(t.send_to_anchored_ms).toFixed(0)} ms ` +
      'from sending to the receipt (the rest: reading leaves, building the tree, storing it)',
  );
}

async function startServer(env: Record<string, string>) {
  const started = await spawnServer(
    [path.resolve('dist/main.js')],
    { PATH: process.env.PATH ?? '', ...env },
    'fhir-ledger listening',
  );
  children.push(started.child);
  return started;
}

/** (b) Steady writes through the built server, anvil at 1-second blocks. */
async function sustainedLoad() {
  const databaseUrl = await createDatabase();
  const dataDir = path.join(work, 'load');
  const { url, child } = await startServer({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    CHAIN_PORT: '0',
    CHAIN_BLOCK_TIME: '1',
    ANCHOR_INTERVAL_MS: String(Number(args.interval)),
    // 'fhir-ledger listening' is an info line; request logs are drained unread.
    LOG_LEVEL: 'info',
  });
  const authorization = `Bearer ${await localAccessToken(defaultAuthPaths(dataDir), url)}`;
  const body = JSON.stringify({
    resourceType: 'Patient',
    name: [{ family: 'Load', given: ['Anchored'] }],
    gender: 'female',
    birthDate: '1980-07-14',
  });
  const end = Date.now() + seconds * 1000;
  let writes = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < end) {
        const res = await fetch(`${url}/Patient`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/fhir+json', Authorization: authorization },
          body,
        });
        if (res.status !== 201) throw new Error(`POST /Patient answered ${res.status}`);
        await res.arrayBuffer();
        writes++;
      }
    }),
  );
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  await until(open(pool), 120_000, 'the load to be anchored');
  const { rows } = await pool.query(
    `SELECT count(*)::int AS n,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM b.anchored_at - o.recorded_at)) AS p50,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM b.anchored_at - o.recorded_at)) AS p95,
            max(extract(epoch FROM b.anchored_at - o.recorded_at)) AS max
       FROM anchor_leaf o JOIN anchor_batch b ON b.id = o.batch_id`,
  );
  // Where a version's wait goes: until its batch is claimed, until the transaction is sent,
  // until the receipt is in and stored.
  const { rows: phases } = await pool.query(
    `SELECT avg(extract(epoch FROM b.created_at - o.recorded_at)) AS claim,
            avg(extract(epoch FROM b.sent_at - b.created_at)) AS send,
            avg(extract(epoch FROM b.anchored_at - b.sent_at)) AS mined
       FROM anchor_leaf o JOIN anchor_batch b ON b.id = o.batch_id`,
  );
  const ledger = (await (
    await fetch(`${url}/$ledger`, { headers: { Authorization: authorization } })
  ).json()) as { parameter: Array<{ name: string; valueUrl?: string }> };
  const rpcUrl = ledger.parameter.find((p) => p.name === 'rpcUrl')!.valueUrl!;
  const { gas, txs } = await gasUsed(pool, rpcUrl);
  const r = rows[0];
  console.log(
    `(b) ${writes} writes in ${seconds} s (${Math.round(writes / seconds)}/s, ${connections} connections), ` +
      `${r.n} versions anchored (with Provenance) in ${txs} transactions, anvil at 1 s blocks:\n` +
      `    write-to-anchored p50 ${Number(r.p50).toFixed(2)} s, p95 ${Number(r.p95).toFixed(2)} s, ` +
      `max ${Number(r.max).toFixed(2)} s; ${(Number(gas) / r.n).toFixed(1)} gas/version\n` +
      `    on average ${Number(phases[0].claim).toFixed(2)} s until claimed in a batch, ` +
      `${Number(phases[0].send).toFixed(2)} s more until sent, ` +
      `${Number(phases[0].mined).toFixed(2)} s more until mined and recorded`,
  );
  await pool.end();
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

try {
  if (!args['skip-backlog']) await drainBacklog();
  if (!args['skip-load']) await sustainedLoad();
} finally {
  for (const child of children) child.kill('SIGTERM');
  await embedded?.stop();
  await rm(work, { recursive: true, force: true });
}
