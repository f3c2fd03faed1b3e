import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRegistry, readRegistry, saveClient, watchRegistry } from './client-registry.js';

const jwks = { keys: [{ kty: 'EC', crv: 'P-384', x: 'x', y: 'y' }] };

describe('client registry', () => {
  it('names the entry and field of a mistake', () => {
    expect(() => parseRegistry({ clients: [{ clientId: 'a b', scope: 's', jwks }] }, 'f')).toThrow(
      /clients\[0\]\.clientId/,
    );
    expect(() =>
      parseRegistry({ clients: [{ clientId: 'a', scope: 'system/*.rs' }] }, 'f'),
    ).toThrow(/exactly one of "jwks" or "jwksUri"/);
    expect(() =>
      parseRegistry(
        { clients: [{ clientId: 'a', scope: 's', jwks: { keys: [{ kty: 'RSA', d: 'secret' }] } }] },
        'f',
      ),
    ).toThrow(/public keys only/);
    expect(() => parseRegistry({ issuers: [{ issuer: 'i', jwksUri: 'ftp://x' }] }, 'f')).toThrow(
      /http\(s\)/,
    );
  });

  it('adds clients to the file and a watcher sees the change', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'registry-'));
    const file = path.join(dir, 'auth.json');
    const watch = watchRegistry(file, () => {});
    expect((await watch.current()).clients).toEqual([]);
    await saveClient(file, { clientId: 'one', scope: 'system/*.rs', jwks });
    await saveClient(file, { clientId: 'two', scope: 'system/*.rs', jwksUri: 'https://k/jwks' });
    await saveClient(file, { clientId: 'one', scope: 'system/*.cruds', jwks });
    const clients = (await watch.current()).clients;
    expect(clients.map((c) => [c.clientId, c.scope])).toEqual([
      ['two', 'system/*.rs'],
      ['one', 'system/*.cruds'],
    ]);
    expect((await readRegistry(file)).clients).toHaveLength(2);
  });

  it('answers from a recent check when the caller accepts one, and from the file otherwise', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'registry-'));
    const file = path.join(dir, 'auth.json');
    await saveClient(file, { clientId: 'one', scope: 'system/*.rs', jwks });
    const watch = watchRegistry(file, () => {});
    expect((await watch.current()).clients.map((c) => c.clientId)).toEqual(['one']);
    await saveClient(file, { clientId: 'two', scope: 'system/*.rs', jwks });
    // Checked less than a minute ago: the file is not looked at.
    expect((await watch.current(60_000)).clients.map((c) => c.clientId)).toEqual(['one']);
    expect((await watch.current()).clients.map((c) => c.clientId)).toEqual(['one', 'two']);
  });

  it('keeps the last good registry when the file breaks', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'registry-'));
    const file = path.join(dir, 'auth.json');
    await saveClient(file, { clientId: 'one', scope: 'system/*.rs', jwks });
    const errors: Error[] = [];
    const watch = watchRegistry(file, (e) => errors.push(e));
    await watch.current();
    await writeFile(file, '{ not json and longer than before');
    expect((await watch.current()).clients[0]?.clientId).toBe('one');
    expect(errors[0]?.message).toMatch(/not valid JSON/);
  });
});
