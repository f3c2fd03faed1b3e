import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import type { Parameters } from 'fhir/r4.js';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/test-chain.js';

// `npm test` builds first; this runs the built entry point the way `npm start` does.
const MAIN = path.resolve('dist/main.js');
const CLI = path.resolve('dist/cli.js');
const exec = promisify(execFile);
const asParameters = (body: unknown) => body as Parameters;

const children: ChildProcess[] = [];
// SIGTERM, so that a failed test's server still stops its anvil and PostgreSQL.
afterAll(() => {
  for (const child of children) child.kill('SIGTERM');
});

/** The whole embedded stack (PostgreSQL, anvil, in-process anchoring) on free ports. */
function start(dataDir: string) {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', CHAIN_PORT: '0', DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const listening = new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg: string; url?: string };
      if (entry.msg === 'fhir-ledger listening') resolve(entry.url!);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  listening.catch(() => {});
  return { child, exited, listening };
}

async function cliToken(dataDir: string, base: string): Promise<string> {
  const { stdout } = await exec(process.execPath, [CLI, 'token', '--url', base], {
    env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir },
  });
  return stdout.trim();
}

function api(base: string, token: string) {
  return async (url: string, init: RequestInit = {}) => {
    const res = await fetch(`${base}/${url}`, {
      ...init,
      headers: {
        'Content-Type': 'application/fhir+json',
        Authorization: `Bearer ${token}`,
        ...init.headers,
      },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
}

const param = (p: Parameters, name: string) => p.parameter?.find((x) => x.name === name);

describe('the embedded stack across a restart', () => {
  it('still verifies versions anchored before a SIGTERM and restart on the same data folder', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-restart-'));
    try {
      const first = start(dataDir);
      const base = await first.listening;
      const call = api(base, await cliToken(dataDir, base));
      const refs: string[] = [];
      for (const family of ['Before', 'Restart']) {
        const created = await call('Patient', {
          method: 'POST',
          body: JSON.stringify({ resourceType: 'Patient', name: [{ family }] }),
        });
        expect(created.status).toBe(201);
        refs.push(`Patient/${created.body.id}/_history/1`);
      }
      const before = new Map<string, Parameters>();
      await waitFor(
        'every version anchored on the embedded chain',
        async () => {
          for (const ref of refs) {
            const res = await call(`${ref}/$verify`);
            if (param(asParameters(res.body), 'status')?.valueCode !== 'anchored') return false;
            before.set(ref, asParameters(res.body));
          }
          return true;
        },
        30_000,
      );
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);

      const second = start(dataDir);
      const base2 = await second.listening;
      const token2 = await cliToken(dataDir, base2);
      const call2 = api(base2, token2);
      for (const ref of refs) {
        const res = await call2(`${ref}/$verify`);
        const p = asParameters(res.body);
        expect(param(p, 'verified')?.valueBoolean).toBe(true);
        expect(param(p, 'merkleRoot')?.valueString).toBe(
          param(before.get(ref)!, 'merkleRoot')?.valueString,
        );
        expect(param(p, 'transactionHash')?.valueString).toBe(
          param(before.get(ref)!, 'transactionHash')?.valueString,
        );
      }
      // And the independent verifier, as a process, reading the restarted chain itself.
      const verified = await exec(process.execPath, [
        CLI,
        'verify',
        refs[0]!,
        '--url',
        base2,
        '--token',
        token2,
      ]);
      expect(verified.stdout).toContain('1 verified, 0 mismatch');
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
