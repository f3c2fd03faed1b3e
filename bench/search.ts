/**
 * Search benchmark: N Observations across 10,000 Patients on the embedded
 * PostgreSQL, then p50/p95 latency of typical searches over HTTP, at growing N.
 * Latencies are also printed as ratios to a plain read by id measured in the same
 * run, so figures compare across machines.
 *
 *   npm run bench:search [-- --sizes 10000,100000,1000000 --requests 200]
 *
 * Data is generated in SQL (millions of rows would take too long through the
 * API); before measuring, the generated index rows of sample resources are
 * checked against what the server itself indexes for them, so the layout is real.
 * After each load the tables are read into PostgreSQL's cache (pg_prewarm), so the
 * figures are those of a warm server.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Resource } from 'fhir/r4.js';
import pg from 'pg';
import { defaultAuthPaths, localAccessToken } from '../src/auth/auth-command.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { indexRows } from '../src/fhir/search/index-rows.js';
import { createParamResolver } from '../src/fhir/search/search-parameters.js';
import { startEmbeddedPostgres } from '../src/fhir/storage/embedded-postgres.js';
import { migrate } from '../src/fhir/storage/migrate.js';
import { processTreeCpu } from './process-cpu.js';
import { BENCH_CODES, insertObservations, insertPatients, PATIENTS } from './search-data.js';
import { spawnServer } from './spawn-server.js';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    requests: { type: 'string', default: '200' },
  },
});
const sizes = args.sizes!.split(',').map(Number);
const requests = Number(args.requests);

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-bench-search-'));
const database = await startEmbeddedPostgres(dataDir);
const pool = new pg.Pool({ connectionString: database.url, max: 4 });
// Idle clients see PostgreSQL stop at the end; that is not a failure of the run.
pool.on('error', () => {});
let server: ChildProcess | undefined;
try {
  await migrate(pool);
  await insertPatients(pool);
  await checkIndexLayout(pool, ['Patient', 'pat-17']);
  const started = await startServer(database.url);
  server = started.child;
  const base = started.base;

  console.log(
    `\nSearch latency over HTTP, ${requests} requests per query, ${PATIENTS} patients, ${os.cpus().length} cores`,
  );
  console.log(
    'N observations | query | p50 ms | p95 ms | p50 / read-by-id p50 | CPU ms per request: server node + postgres',
  );
  let loaded = 0;
  for (const size of sizes) {
    const t0 = performance.now();
    await insertObservations(pool, loaded, size);
    loaded = size;
    // Measure a server in service, not one right after a bulk load: statistics and the
    // visibility map as autovacuum leaves them (index-only scans need the latter), the
    // load's dirty pages flushed and the tables read into PostgreSQL's cache.
    await pool.query('VACUUM ANALYZE');
    await pool.query('CHECKPOINT');
    await prewarm(pool);
    const loadSeconds = (performance.now() - t0) / 1000;
    await checkIndexLayout(pool, ['Observation', `obs-${size - 1}`]);
    console.log(
      `-- loaded ${size} observations (${(size / loadSeconds).toFixed(0)} rows/s in SQL)`,
    );
    // A fresh token per size: loading a million rows outlasts a token's 5 minutes.
    const headers = {
      authorization: `Bearer ${await localAccessToken(defaultAuthPaths(dataDir), base, 'system/*.rs')}`,
    };
    const random = (n: number) => Math.floor(Math.random() * n);
    const queries: Array<[string, () => string]> = [
      ['read Patient by id (baseline)', () => `/Patient/pat-${random(PATIENTS)}`],
      ['GET /metadata (722 KB, public)', () => '/metadata'],
      ['Observation?patient=X', () => `/Observation?patient=pat-${random(PATIENTS)}`],
      [
        'Observation?patient=X&code=Y&date=ge..',
        () =>
          `/Observation?patient=pat-${random(PATIENTS)}&code=http://loinc.org|${BENCH_CODES[random(BENCH_CODES.length)]![0]}&date=ge2021-01-01`,
      ],
      ['Patient?name=...', () => `/Patient?name=family${random(PATIENTS)}`],
      [
        'Patient?_id=X&_revinclude=Observation:subject',
        () => `/Patient?_id=pat-${random(PATIENTS)}&_revinclude=Observation:subject`,
      ],
    ];
    let baseline = 0;
    for (const [name, url] of queries) {
      const times: number[] = [];
      // CPU time is steadier than latency on a shared machine; PostgreSQL runs under this process.
      const cpuBefore = cpuSeconds(server.pid!);
      for (let i = 0; i < requests; i++) {
        const t = performance.now();
        const res = await fetch(base + url(), { headers });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${name}: status ${res.status}`);
        times.push(performance.now() - t);
      }
      const cpu = ((cpuSeconds(server.pid!) - cpuBefore) * 1000) / requests;
      times.sort((a, b) => a - b);
      const p50 = times[Math.floor(times.length * 0.5)]!;
      const p95 = times[Math.floor(times.length * 0.95)]!;
      if (!baseline) baseline = p50;
      console.log(
        `${String(size).padStart(9)} | ${name.padEnd(46)} | ${p50.toFixed(2).padStart(6)} | ${p95.toFixed(2).padStart(6)} | ${(p50 / baseline).toFixed(2).padStart(5)} | ${cpu.toFixed(2)}`,
      );
    }
  }
} finally {
  server?.kill('SIGTERM');
  await pool.end();
  await database.stop();
  await rm(dataDir, { recursive: true, force: true });
}

function cpuSeconds(serverPid: number): number {
  return (processTreeCpu(serverPid).node ?? 0) + (processTreeCpu(process.pid).postgres ?? 0);
}

async function prewarm(client: pg.Pool): Promise<void> {
  await client.query('CREATE EXTENSION IF NOT EXISTS pg_prewarm');
  await client.query(
    `SELECT pg_prewarm(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')`,
  );
}

/** The generated index rows of a resource must equal what the server's indexer produces for it. */
async function checkIndexLayout(client: pg.Pool, [type, id]: [string, string]): Promise<void> {
  const params = createParamResolver(loadDefinitions());
  const { rows } = await client.query<{ content: Resource }>(
    'SELECT content FROM resource_current WHERE resource_type = $1 AND id = $2',
    [type, id],
  );
  const expected = indexRows(rows[0]!.content, params);
  const tables = {
    token: ['system', 'code'],
    string: ['value', 'norm'],
    date: ['low', 'high'],
    quantity: ['system', 'code', 'value'],
    reference: ['target_type', 'target_id', 'url'],
  } as const;
  for (const [table, columns] of Object.entries(tables)) {
    const { rows: actual } = await client.query(
      `SELECT param, ${columns.join(', ')} FROM ${table}_index WHERE resource_type = $1 AND id = $2`,
      [type, id],
    );
    const want = expected[table as keyof typeof tables] as unknown as Record<string, unknown[]>;
    const got = actual
      .map((r) => JSON.stringify([r.param, ...columns.map((c) => normalise(r[c]))]))
      .sort();
    const keys = [
      'param',
      ...columns.map(
        (c) => ({ target_type: 'targetType', target_id: 'targetId' })[c as string] ?? c,
      ),
    ];
    const exp = want
      .param!.map((_, i) => JSON.stringify(keys.map((k) => normalise(want[k]![i]))))
      .sort();
    if (JSON.stringify(got) !== JSON.stringify(exp)) {
      throw new Error(
        `generated ${table} rows of ${type}/${id} differ from the indexer:\n${got.join('\n')}\nvs\n${exp.join('\n')}`,
      );
    }
  }
}

function normalise(v: unknown): unknown {
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) return new Date(v).toISOString();
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return v ?? null;
}

async function startServer(databaseUrl: string): Promise<{ base: string; child: ChildProcess }> {
  const { url, child } = await spawnServer(
    [path.resolve('dist/main.js')],
    {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      // The signing key and client registry live here too; `localAccessToken` registers a client.
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
    },
    'fhir-ledger listening',
  );
  return { base: url, child };
}
