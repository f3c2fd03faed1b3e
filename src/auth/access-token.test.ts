import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueAccessToken, type VerifyContext, verifyAccessToken } from './access-token.js';
import { loadServerKey, type ServerKey } from './server-key.js';

const BASE = 'https://fhir.example.org/fhir';
let dir: string;
let serverKey: ServerKey;
let otherKey: ServerKey;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'access-token-'));
  serverKey = await loadServerKey(path.join(dir, 'key.json'));
  otherKey = await loadServerKey(path.join(dir, 'other.json'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

// Own tokens never consult the client registry or remote JWKS: those are left out.
const context = (key: ServerKey, now?: number): VerifyContext =>
  ({ serverKey: key, baseUrl: BASE, isType: () => true, now }) as unknown as VerifyContext;

describe('verifying the server own access tokens (signature checked once per token)', () => {
  it('keeps checking expiry on every use of a token it has verified before', async () => {
    const token = await issueAccessToken(serverKey, {
      baseUrl: BASE,
      clientId: 'app',
      scope: 'system/*.rs',
      lifetimeSeconds: 300,
    });
    const now = Math.floor(Date.now() / 1000);
    expect((await verifyAccessToken(token, context(serverKey, now))).clientId).toBe('app');
    expect((await verifyAccessToken(token, context(serverKey, now + 60))).clientId).toBe('app');
    await expect(verifyAccessToken(token, context(serverKey, now + 3600))).rejects.toThrow(
      /expired/,
    );
  });

  it('does not let a token verified under one key pass under another', async () => {
    const token = await issueAccessToken(serverKey, {
      baseUrl: BASE,
      clientId: 'app',
      scope: 'system/*.rs',
      lifetimeSeconds: 300,
    });
    await verifyAccessToken(token, context(serverKey));
    await expect(verifyAccessToken(token, context(otherKey))).rejects.toThrow();
  });
});
