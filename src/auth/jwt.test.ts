import jose from 'node-jose';
import { describe, expect, it } from 'vitest';
import { checkTimes, hasAudience, JwtError, signJwt, verifySignature } from './jwt.js';

const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('verifySignature', async () => {
  const rsa = await jose.JWK.createKey('RSA', 2048, { alg: 'RS384', kid: 'rsa' });
  const ec = await jose.JWK.createKey('EC', 'P-384', { alg: 'ES384', kid: 'ec' });
  const publicKeys = await jose.JWK.asKeyStore({ keys: [rsa.toJSON(), ec.toJSON()] });
  const claims = { iss: 'a', sub: 'a' };

  it('accepts RS384 and ES384 signatures by registered keys', async () => {
    for (const [key, alg] of [
      [rsa, 'RS384'],
      [ec, 'ES384'],
    ] as const) {
      const token = await signJwt(claims, key, alg);
      expect((await verifySignature(token, publicKeys, ['RS384', 'ES384'])).claims).toEqual(claims);
    }
  });

  it('refuses alg none, HS256 keyed with the public key, and tampering', async () => {
    const none = `${b64({ alg: 'none' })}.${b64(claims)}.`;
    await expect(verifySignature(none, publicKeys, ['RS384'])).rejects.toThrow(/alg "none"/);

    const secret = await jose.JWK.asKey({
      kty: 'oct',
      k: Buffer.from(JSON.stringify(rsa.toJSON())).toString('base64url'),
    });
    const hs = (await jose.JWS.createSign(
      { format: 'compact', fields: { alg: 'HS256', kid: 'rsa' } },
      secret,
    )
      .update(JSON.stringify(claims))
      .final()) as unknown as string;
    await expect(verifySignature(hs, publicKeys, ['RS384', 'ES384'])).rejects.toThrow(JwtError);

    const token = await signJwt(claims, rsa, 'RS384');
    const [h, , s] = token.split('.');
    const tampered = `${h}.${b64({ ...claims, sub: 'b' })}.${s}`;
    await expect(verifySignature(tampered, publicKeys, ['RS384'])).rejects.toThrow(
      /signature does not verify/,
    );
  });

  it('refuses a key that is not in the JWKS', async () => {
    const other = await jose.JWK.createKey('RSA', 2048, { alg: 'RS384', kid: 'other' });
    await expect(
      verifySignature(await signJwt(claims, other, 'RS384'), publicKeys, ['RS384']),
    ).rejects.toThrow(/no registered key has kid "other"/);
  });

  it('refuses an RS alg over an EC key (key confusion)', async () => {
    const token = await signJwt(claims, rsa, 'RS384');
    const [, p, s] = token.split('.');
    const relabelled = `${b64({ alg: 'RS384', kid: 'ec' })}.${p}.${s}`;
    await expect(verifySignature(relabelled, publicKeys, ['RS384'])).rejects.toThrow(JwtError);
  });
});

describe('checkTimes and hasAudience', () => {
  const now = 1_700_000_000;
  it('needs a future exp, within the maximum lifetime', () => {
    expect(() => checkTimes({}, { now, leeway: 0 })).toThrow(/exp is missing/);
    expect(() => checkTimes({ exp: now - 3600 }, { now, leeway: 30 })).toThrow(/expired/);
    expect(() => checkTimes({ exp: now + 3600 }, { now, leeway: 30, maxLifetime: 300 })).toThrow(
      /more than 300 seconds/,
    );
    expect(() => checkTimes({ exp: now + 60, nbf: now + 3600 }, { now, leeway: 30 })).toThrow(
      /nbf/,
    );
    expect(checkTimes({ exp: now + 60, iat: now }, { now, leeway: 30, maxLifetime: 300 })).toBe(
      now + 60,
    );
  });
  it('matches aud as a string or in an array', () => {
    expect(hasAudience({ aud: 'https://x/fhir/' }, 'https://x/fhir')).toBe(true);
    expect(hasAudience({ aud: ['a', 'https://x/fhir'] }, 'https://x/fhir')).toBe(true);
    expect(hasAudience({ aud: 'https://y/fhir' }, 'https://x/fhir')).toBe(false);
  });
});
