import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import jose from 'node-jose';

export const SERVER_ALG = 'RS384';

export interface ServerKey {
  key: jose.JWK.Key;
  alg: string;
  /** Public keys only, served at the JWKS endpoint. */
  jwks: { keys: object[] };
}

/**
 * The key that signs this server's access tokens. Read from `file` (a private
 * JWK, RSA or EC); when the file does not exist it is generated there (mode 0600).
 * Several processes must share one file (or one configured key) so that each
 * accepts the others' tokens; an exclusive create keeps a first-start race harmless.
 */
export async function loadServerKey(file: string): Promise<ServerKey> {
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text === undefined) {
    const generated = await jose.JWK.createKey('RSA', 2048, { alg: SERVER_ALG, use: 'sig' });
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      await writeFile(file, `${JSON.stringify(generated.toJSON(true), null, 2)}\n`, {
        mode: 0o600,
        flag: 'wx',
      });
      text = JSON.stringify(generated.toJSON(true));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      text = await readFile(file, 'utf8');
    }
  }
  return asServerKey(text, file);
}

async function asServerKey(text: string, source: string): Promise<ServerKey> {
  let key: jose.JWK.Key;
  try {
    key = await jose.JWK.asKey(JSON.parse(text));
  } catch {
    throw new Error(`${source} does not hold a JWK`);
  }
  if (!('d' in (key.toJSON(true) as object)))
    throw new Error(`${source} holds a public key; the server needs a private JWK`);
  const alg = key.kty === 'EC' ? 'ES384' : key.kty === 'RSA' ? SERVER_ALG : undefined;
  if (!alg) throw new Error(`${source}: the signing key must be RSA or EC (P-384)`);
  return { key, alg, jwks: { keys: [{ ...key.toJSON(false), alg, use: 'sig' }] } };
}
