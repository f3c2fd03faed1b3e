import { randomUUID } from 'node:crypto';
import jose from 'node-jose';
import { signJwt } from './jwt.js';

export interface FetchTokenParameters {
  /** FHIR base URL, e.g. http://localhost:8080/fhir */
  fhirBaseUrl: string;
  clientId: string;
  /** The client's private JWK (RSA for RS384, EC P-384 for ES384). */
  privateKey: object;
  scope: string;
  fetch?: typeof globalThis.fetch;
}

export interface FetchTokenReturnType {
  accessToken: string;
  expiresIn: number;
  scope: string;
}

/**
 * The SMART Backend Services flow as a client runs it: discover the token
 * endpoint, sign a one-time assertion, exchange it for an access token.
 *
 * @example
 * const { accessToken } = await fetchToken({ fhirBaseUrl, clientId, privateKey, scope: 'system/*.rs' });
 */
export async function fetchToken({
  fhirBaseUrl,
  clientId,
  privateKey,
  scope,
  fetch = globalThis.fetch,
}: FetchTokenParameters): Promise<FetchTokenReturnType> {
  const base = fhirBaseUrl.replace(/\/+$/, '');
  const discovery = await fetch(`${base}/.well-known/smart-configuration`);
  if (!discovery.ok)
    throw new Error(`${base}/.well-known/smart-configuration answered ${discovery.status}`);
  const { token_endpoint: tokenUrl } = (await discovery.json()) as { token_endpoint: string };
  const key = await jose.JWK.asKey(privateKey);
  const now = Math.floor(Date.now() / 1000);
  const assertion = await signJwt(
    { iss: clientId, sub: clientId, aud: tokenUrl, exp: now + 240, iat: now, jti: randomUUID() },
    key,
    key.kty === 'EC' ? 'ES384' : 'RS384',
  );
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      scope,
    }),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    throw new Error(
      `token endpoint refused (${res.status}): ${body.error ?? 'error'}${body.error_description ? ` - ${body.error_description}` : ''}`,
    );
  }
  return {
    accessToken: String(body.access_token),
    expiresIn: Number(body.expires_in),
    scope: String(body.scope),
  };
}

/** A fresh client key pair: private JWK to keep, public JWKS to register. */
export async function generateClientKey(kind: 'RSA' | 'EC' = 'RSA') {
  const key =
    kind === 'EC'
      ? await jose.JWK.createKey('EC', 'P-384', { alg: 'ES384', use: 'sig' })
      : await jose.JWK.createKey('RSA', 2048, { alg: 'RS384', use: 'sig' });
  return { privateKey: key.toJSON(true) as object, jwks: { keys: [key.toJSON(false) as object] } };
}
