/**
 * Import benchmark: resources/s of the Synthea transaction bundles posted by the
 * importer (`fhir-ledger import`) to the built server (`dist/main.js`, embedded
 * PostgreSQL), several passes into one growing database. Each pass is paired with a
 * baseline pass in the same run: the same bundles posted to a plain Express route
 * that parses them and stores nothing (the importer's and HTTP's own cost), so the
 * ratio compares across machines. The server's CPU time per resource (its Node
 * process, and PostgreSQL) is printed too: on a shared machine it is steadier than
 * wall time.
 *
 *   npm run bench:import [-- --passes 5 --concurrency 4 --dir test/fixtures/synthea]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { defaultAuthPaths, localAccessToken } from '../src/auth/auth-command.js';
import { importBundles, listBundleFiles } from '../src/import/import-bundles.js';
import { processTreeCpu } from './process-cpu.js';
import { spawnServer } from './spawn-server.js';

const { values: args } = parseArgs({
  options: {
    passes: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '4' },
    dir: { type: 'string', default: 'test/fixtures/synthea' },
  },
});
const passes = Number(args.passes);
const concurrency = Number(args.concurrency);

const files = await listBundleFiles([args.dir]);
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-bench-import-'));
const server = await spawnServer(
  [path.resolve('dist/main.js')],
  { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info' },
  'fhir-ledger listening',
);
const plain = await spawnServer(
  ['--import', 'tsx', path.resolve('bench/plain-express.ts')],
  process.env,
  'listening',
);
const token = await localAccessToken(defaultAuthPaths(dataDir), server.url);
const accessToken = async () => token;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  // Warm-up: definitions, validators and prepared statements.
  await importBundles(files.slice(0, 1), { url: server.url, accessToken, concurrency: 1 });
  const rates: number[] = [];
  const baselines: number[] = [];
  const cpuPerResource: Array<Record<string, number>> = [];
  console.log(
    `\nImport of ${files.length} Synthea bundles, concurrency ${concurrency}, ${os.cpus().length} cores`,
  );
  for (let pass = 1; pass <= passes; pass++) {
    const base = await importBundles(files, { url: `${plain.url}/fhir`, accessToken, concurrency });
    baselines.push(base.created / base.seconds);
    const before = processTreeCpu(server.child.pid!);
    const summary = await importBundles(files, { url: server.url, accessToken, concurrency });
    const after = processTreeCpu(server.child.pid!);
    if (summary.failed > 0) {
      throw new Error(
        `pass ${pass}: ${summary.failed} bundles failed: ${summary.failures[0]?.diagnostics[0]}`,
      );
    }
    const rate = summary.created / summary.seconds;
    rates.push(rate);
    const cpu: Record<string, number> = {};
    for (const name of ['node', 'postgres']) {
      cpu[name] = (((after[name] ?? 0) - (before[name] ?? 0)) * 1000) / summary.created;
    }
    cpuPerResource.push(cpu);
    console.log(
      `pass ${pass}: ${summary.created} resources in ${summary.seconds.toFixed(2)} s = ${rate.toFixed(0)} resources/s` +
        ` (server CPU per resource: node ${cpu.node!.toFixed(2)} ms, postgres ${cpu.postgres!.toFixed(2)} ms;` +
        ` baseline ${baselines.at(-1)!.toFixed(0)} resources/s)`,
    );
  }
  const rate = median(rates);
  const baseline = median(baselines);
  console.log(
    `median: ${rate.toFixed(0)} resources/s (target > 2000); baseline (plain Express, parse only) ${baseline.toFixed(0)} resources/s; ratio ${(rate / baseline).toFixed(3)}`,
  );
  console.log(
    `median server CPU per resource: node ${median(cpuPerResource.map((c) => c.node!)).toFixed(2)} ms, postgres ${median(cpuPerResource.map((c) => c.postgres!)).toFixed(2)} ms`,
  );
} finally {
  for (const child of [server.child, plain.child]) child.kill('SIGTERM');
  await new Promise((r) => server.child.once('exit', r));
  await rm(dataDir, { recursive: true, force: true });
}
