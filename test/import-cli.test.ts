import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Bundle, Provenance } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/test-server.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = path.join(ROOT, 'test/fixtures/synthea');
const FILES = [
  'Brett_Gottlieb_0d2177ba-f67b-4f29-addb-91040de55388.json',
  'Eddy_Fadel_c0cd7d3c-da6a-4e2f-a130-35e4d7db9d11.json',
].map((f) => path.join(FIXTURES, f));

let server: TestServer;
let tmp: string;
beforeAll(async () => {
  server = await startTestServer({ maxBodyBytes: 16 * 1024 * 1024 });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-import-'));
});
afterAll(async () => {
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

/** Runs `fhir-ledger import ...` as a separate process (stdout is a pipe, not a TTY). */
async function importCli(args: string[]) {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'import', ...args],
      { cwd: ROOT },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('fhir-ledger import', () => {
  it('imports two Synthea bundles and prints a summary', async () => {
    const { code, stdout, stderr } = await importCli([
      ...FILES,
      '--url',
      server.base,
      '--token',
      server.token,
      '--concurrency',
      '2',
    ]);
    expect(code).toBe(0);
    // 96 + 122 entries, every one created.
    expect(stdout).toMatch(/^Bundles: 2 \(2 ok, 0 failed\)$/m);
    expect(stdout).toMatch(/^Resources created: 218 in \d+\.\d s \(\d+ resources\/s\)$/m);
    expect(stdout).not.toContain('Failures');
    expect(stderr).toMatch(/\[\d\/2\] ok +Brett_Gottlieb_.*\(96 created\)/);
    expect(stderr).toMatch(/\[\d\/2\] ok +Eddy_Fadel_.*\(122 created\)/);

    const api = server.api;
    const history = await api.get('/_history?_count=1').expect(200);
    // Each bundle (all creates) comes with one Provenance listing its 96 or 122 versions.
    expect(history.body.total).toBe(218 + 2);
    const provenances = await api.get('/Provenance').expect(200);
    const targets = ((provenances.body as Bundle).entry ?? []).map(
      (e) => (e.resource as Provenance).target.length,
    );
    expect(targets.sort((a, b) => a - b)).toEqual([96, 122]);
    const patients = await api.get('/Patient?family=Gottlieb').expect(200);
    expect((patients.body as Bundle).entry).toHaveLength(1);
  });

  it('reports failed bundles with their OperationOutcome and exits 1', async () => {
    const bad = path.join(tmp, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
          {
            resource: { resourceType: 'Patient', gender: 'neither' },
            request: { method: 'POST', url: 'Patient' },
          },
        ],
      }),
    );
    const before = (await server.api.get('/_history?_count=1')).body.total;
    const { code, stdout } = await importCli([tmp, '--url', server.base, '--token', server.token]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^Bundles: 1 \(0 ok, 1 failed\)$/m);
    expect(stdout).toMatch(/^Resources created: 0 /m);
    expect(stdout).toContain(`  ${bad} (HTTP 400)`);
    expect(stdout).toMatch(/^ {4}Bundle\.entry\[1\] \(POST Patient\): .*gender/m);
    expect((await server.api.get('/_history?_count=1')).body.total).toBe(before);
  });

  it('says what is wrong with its arguments', async () => {
    const none = await importCli(['--url', server.base]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('name at least one file or folder');
    const noToken = await importCli([FILES[0]!, '--url', server.base]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('the server needs an access token');
    const refused = await importCli([FILES[0]!, '--url', server.base, '--token', 'not.a.token']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('(HTTP 401)');
    const concurrency = await importCli([FILES[0]!, '--concurrency', 'lots', '--token', 't']);
    expect(concurrency.code).toBe(2);
    expect(concurrency.stderr).toContain('--concurrency must be an integer');
    const down = await importCli([FILES[0]!, '--url', 'http://127.0.0.1:1/fhir', '--token', 't']);
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/\(not sent\)\n {4}fetch failed/);
  });
});
