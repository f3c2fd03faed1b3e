import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConsentSalt } from './consent-salt.js';

describe('loadConsentSalt', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'consent-salt-'));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('creates a secret salt once and reads the same one afterwards', async () => {
    const file = path.join(dir, 'consent', 'salt');
    const [a, b] = await Promise.all([loadConsentSalt(file), loadConsentSalt(file)]);
    expect(a).toMatch(/^0x[0-9a-f]{64}$/);
    expect(b).toBe(a);
    expect(await loadConsentSalt(file)).toBe(a);
    expect((await readFile(file, 'utf8')).trim()).toBe(a);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(path.dirname(file))).toEqual(['salt']);
  });

  it('refuses a file that is not a salt', async () => {
    const file = path.join(dir, 'bad');
    await writeFile(file, 'not a salt');
    await expect(loadConsentSalt(file)).rejects.toThrow(/not a 0x-prefixed 32-byte hex salt/);
  });
});
