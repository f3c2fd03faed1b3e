/**
 * REST core benchmark: create/s and read/s of the real server (embedded
 * PostgreSQL, built `dist/main.js`) and, in the same run, req/s of a plain
 * Express route returning 1 KB of JSON, printed as a ratio.
 *
 *   npm run build && npm run bench:rest [-- --seconds 10 --connections 16]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { defaultAuthPaths, localAccessToken } from '../src/auth/auth-command.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
  },
});
const seconds = Number(args.seconds);
const connections = Number(args.connections);

function start(
  command: string[],
  env: Record<string, string>,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, command, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg: string; url?: string };
      if (entry.msg === 'fhir-ledger listening' || entry.msg === 'listening') {
        lines.close();
        child.stdout!.resume(); // request logs are drained, not parsed
        resolve({ url: entry.url!, child });
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

async function measure(opts: autocannon.Options): Promise<autocannon.Result> {
  const result = await autocannon({ connections, duration: seconds, ...opts });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${opts.title}: ${result.non2xx} non-2xx and ${result.errors} errors`);
  }
  return result;
}

const patient = JSON.stringify({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:2.16.840.1.113883.4.1', value: '999-99-9999' }],
  name: [{ use: 'official', family: 'Benchmark', given: ['Bea', 'Marie'] }],
  telecom: [{ system: 'phone', value: '555-0100', use: 'home' }],
  gender: 'female',
  birthDate: '1980-07-14',
  address: [
    { line: ['1 Main St'], city: 'Springfield', state: 'MA', postalCode: '01101', country: 'US' },
  ],
});

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-bench-'));
const children: ChildProcess[] = [];
try {
  const fhir = await start([path.resolve('dist/main.js')], {
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
  });
  children.push(fhir.child);
  // Every request carries a real access token: verification is part of what is measured.
  const authorization = `Bearer ${await localAccessToken(defaultAuthPaths(dataDir), fhir.url)}`;
  const plain = await start(['--import', 'tsx', path.resolve('bench/plain-express.ts')], {});
  children.push(plain.child);

  const created = await measure({
    title: 'create',
    url: `${fhir.url}/Patient`,
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal', authorization },
    body: patient,
  });
  const one = await fetch(`${fhir.url}/Patient`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', authorization },
    body: patient,
  });
  const { id } = (await one.json()) as { id: string };
  const read = await measure({
    title: 'read',
    url: `${fhir.url}/Patient/${id}`,
    headers: { authorization },
  });
  const baseline = await measure({ title: 'baseline', url: `${plain.url}/baseline` });

  const row = (name: string, r: autocannon.Result) =>
    `${name.padEnd(28)} ${r.requests.average.toFixed(0).padStart(8)} req/s   p50 ${r.latency.p50} ms   p99 ${r.latency.p99} ms`;
  console.log(
    `\nREST core, ${connections} connections, ${seconds} s each, ${os.cpus().length} cores`,
  );
  console.log(row('create (Patient, minimal)', created));
  console.log(row('read (Patient)', read));
  console.log(row('plain Express 1 KB JSON', baseline));
  console.log(
    `read / plain Express: ${(read.requests.average / baseline.requests.average).toFixed(2)}`,
  );
  console.log(
    `create / plain Express: ${(created.requests.average / baseline.requests.average).toFixed(2)}`,
  );
} finally {
  for (const child of children) child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  await rm(dataDir, { recursive: true, force: true });
}
