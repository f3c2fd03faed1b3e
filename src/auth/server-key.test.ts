import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadServerKey } from './server-key.js';

describe('loadServerKey', () => {
  it('generates a private key on first start and reads the same one later', async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'key-')), 'auth', 'signing-key.json');
    const first = await loadServerKey(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const again = await loadServerKey(file);
    expect(again.key.kid).toBe(first.key.kid);
    expect(first.alg).toBe('RS384');
    expect(JSON.stringify(first.jwks)).not.toContain('"d"');
  });

  it('refuses a public key', async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'key-')), 'k.json');
    const { jwks } = await loadServerKey(path.join(path.dirname(file), 'gen.json'));
    await writeFile(file, JSON.stringify(jwks.keys[0]));
    await expect(loadServerKey(file)).rejects.toThrow(/public key/);
  });
});
