import { randomUUID } from 'node:crypto';
import jose from 'node-jose';
import request from 'supertest';
import { generateClientKey } from '../../src/auth/backend-services-client.js';
import { signJwt } from '../../src/auth/jwt.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface TestClient {
  clientId: string;
  privateKey: object;
  jwks: { keys: object[] };
}

export async function makeClient(
  clientId: string,
  kind: 'RSA' | 'EC' = 'RSA',
): Promise<TestClient> {
  const { privateKey, jwks } = await generateClientKey(kind);
  return { clientId, privateKey, jwks: jwks as { keys: object[] } };
}

/** A client assertion built by hand; `claims` and `header` override the correct values. */
export async function assertion(
  client: TestClient,
  tokenUrl: string,
  claims: Record<string, unknown> = {},
  alg?: string,
): Promise<string> {
  const key = await jose.JWK.asKey(client.privateKey);
  const now = Math.floor(Date.now() / 1000);
  return signJwt(
    {
      iss: client.clientId,
      sub: client.clientId,
      aud: tokenUrl,
      exp: now + 120,
      iat: now,
      jti: randomUUID(),
      ...claims,
    },
    key,
    alg ?? (key.kty === 'EC' ? 'ES384' : 'RS384'),
  );
}

export function tokenRequest(base: string, form: Record<string, string>) {
  return request(base).post('/auth/token').type('form').send(form);
}

export async function getToken(base: string, client: TestClient, scope: string): Promise<string> {
  const res = await tokenRequest(base, {
    grant_type: 'client_credentials',
    client_assertion_type: JWT_BEARER,
    client_assertion: await assertion(client, `${base}/auth/token`),
    scope,
  });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

/** A token signed by an "external issuer" key, claims as given. */
export async function externalToken(
  key: jose.JWK.Key,
  claims: Record<string, unknown>,
  alg = 'RS256',
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({ iat: now, exp: now + 300, ...claims }, key, alg);
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
