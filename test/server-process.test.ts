import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/test-database.js';

// `npm test` builds first; these tests run the built entry point the way `npm start` does.
const MAIN = path.resolve('dist/main.js');
const CLI = path.resolve('dist/cli.js');

/** The documented way to get a token: `fhir-ledger token` with the server's data folder. */
async function cliToken(dataDir: string, url: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'token', '--url', url], {
    env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir },
  });
  return stdout.trim();
}
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  let stderr = '';
  const stdout: string[] = [];
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const listening = new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      stdout.push(line);
      const entry = JSON.parse(line) as { msg: string; url?: string };
      if (entry.msg === 'fhir-ledger listening') resolve(entry.url!);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  // Awaited by the tests that expect a start; the others only care about the exit.
  listening.catch(() => {});
  return { child, exited, listening, stderr: () => stderr, stdout };
}

describe('the server process (npm start)', () => {
  it('starts on the embedded PostgreSQL, keeps data across restarts, and stops cleanly on SIGTERM', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-start-'));
    try {
      const first = run({ PORT: '0', DATA_DIR: dataDir });
      const base = await first.listening;
      expect((await fetch(`${base}/Patient`)).status).toBe(401);
      const token = await cliToken(dataDir, base);
      const created = await fetch(`${base}/Patient`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/fhir+json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Persisted' }] }),
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);

      const second = run({ PORT: '0', DATA_DIR: dataDir });
      const base2 = await second.listening;
      // The signing key and the registered client survive the restart: a new token works.
      const read = await fetch(`${base2}/Patient/${id}`, {
        headers: { Authorization: `Bearer ${await cliToken(dataDir, base2)}` },
      });
      expect(read.status).toBe(200);
      expect(((await read.json()) as { name: Array<{ family: string }> }).name[0]!.family).toBe(
        'Persisted',
      );
      second.child.kill('SIGINT');
      expect(await second.exited).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('uses DATABASE_URL when set', async () => {
    const database = await createTestDatabase();
    // The data folder still holds the token signing key and the client registry.
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-dburl-'));
    try {
      const server = run({ PORT: '0', DATABASE_URL: database.url, DATA_DIR: dataDir });
      const base = await server.listening;
      expect((await fetch(`${base}/metadata`)).status).toBe(200);
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    } finally {
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses bad configuration at start with a clear message', async () => {
    const server = run({ PORT: 'not-a-port' });
    expect(await server.exited).toBe(2);
    expect(server.stderr()).toContain('bad configuration: PORT must be an integer');
  });
});
