/**
 * Import benchmark: resources/s of the Synthea transaction bundles posted by the
 * importer (`fhir-ledger import`) to the built server (`dist/main.js`, embedded
 * PostgreSQL), several passes into one growing database.
 *
 *   npm run bench:import [-- --passes 5 --concurrency 4 --dir test/fixtures/synthea]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { defaultAuthPaths, localAccessToken } from '../src/auth/auth-command.js';
import { importBundles, listBundleFiles } from '../src/import/import-bundles.js';

const { values: args } = parseArgs({
  options: {
    passes: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '4' },
    dir: { type: 'string', default: 'test/fixtures/synthea' },
  },
});
const passes = Number(args.passes);
const concurrency = Number(args.concurrency);

function startServer(dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [path.resolve('dist/main.js')], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg: string; url?: string };
      if (entry.msg === 'fhir-ledger listening') {
        lines.close();
        child.stdout!.resume(); // request logs are drained, not parsed
        resolve({ url: entry.url!, child });
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

const files = await listBundleFiles([args.dir]);
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-bench-import-'));
const server = await startServer(dataDir);
const token = await localAccessToken(defaultAuthPaths(dataDir), server.url);
const accessToken = async () => token;
try {
  // Warm-up: definitions, validators and prepared statements.
  await importBundles(files.slice(0, 1), { url: server.url, accessToken, concurrency: 1 });
  const rates: number[] = [];
  console.log(
    `\nImport of ${files.length} Synthea bundles, concurrency ${concurrency}, ${os.cpus().length} cores`,
  );
  for (let pass = 1; pass <= passes; pass++) {
    const summary = await importBundles(files, { url: server.url, accessToken, concurrency });
    if (summary.failed > 0) {
      throw new Error(
        `pass ${pass}: ${summary.failed} bundles failed: ${summary.failures[0]?.diagnostics[0]}`,
      );
    }
    const rate = summary.created / summary.seconds;
    rates.push(rate);
    console.log(
      `pass ${pass}: ${summary.created} resources in ${summary.seconds.toFixed(2)} s = ${rate.toFixed(0)} resources/s`,
    );
  }
  const sorted = [...rates].sort((a, b) => a - b);
  console.log(
    `median: ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} resources/s (target > 2000)`,
  );
} finally {
  server.child.kill('SIGTERM');
  await new Promise((r) => server.child.once('exit', r));
  await rm(dataDir, { recursive: true, force: true });
}
