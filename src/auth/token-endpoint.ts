import type pg from 'pg';
import { issueAccessToken } from './access-token.js';
import type { RegisteredClient, RegistryWatch } from './client-registry.js';
import { recordJti } from './jti-store.js';
import { inlineKeys, type JwksCache } from './jwks-cache.js';
import { checkTimes, decodeJwt, hasAudience, JwtError, verifySignature } from './jwt.js';
import { OAuthError } from './oauth-error.js';
import { grantScopes, splitScopes } from './scopes.js';
import type { ServerKey } from './server-key.js';
import { ASSERTION_ALGS } from './smart-configuration.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** SMART Backend Services: an assertion's exp is at most five minutes ahead. */
const MAX_ASSERTION_SECONDS = 300;
const LEEWAY_SECONDS = 30;

export interface TokenServices {
  pool: pg.Pool;
  serverKey: ServerKey;
  registry: RegistryWatch;
  jwks: JwksCache;
  isType: (t: string) => boolean;
  tokenLifetimeSeconds: number;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  scope: string;
}

/**
 * SMART Backend Services token request (client_credentials with a private_key_jwt
 * assertion), read as the story of the request: grant, client authentication,
 * replay check, scopes, token. Every refusal is an RFC 6749 error.
 */
export async function requestToken(
  form: Record<string, unknown>,
  urls: { baseUrl: string; tokenUrl: string },
  s: TokenServices,
): Promise<TokenResponse> {
  const param = (name: string) => {
    const v = form[name];
    if (Array.isArray(v)) throw new OAuthError('invalid_request', `${name} is repeated`);
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const grantType = param('grant_type');
  if (!grantType) throw new OAuthError('invalid_request', 'grant_type is required');
  if (grantType !== 'client_credentials')
    throw new OAuthError(
      'unsupported_grant_type',
      'only grant_type=client_credentials is supported',
    );
  const assertionType = param('client_assertion_type');
  if (assertionType !== JWT_BEARER)
    throw new OAuthError('invalid_client', `client_assertion_type must be ${JWT_BEARER}`);
  const assertion = param('client_assertion');
  if (!assertion) throw new OAuthError('invalid_client', 'client_assertion is required');

  const client = await authenticateClient(assertion, param('client_id'), urls.tokenUrl, s);

  const requested = splitScopes(param('scope'));
  if (requested.length === 0) throw new OAuthError('invalid_scope', 'scope is required');
  const granted = grantScopes(requested, splitScopes(client.scope), s.isType);
  if (!granted.some((g) => g.includes('/')))
    throw new OAuthError(
      'invalid_scope',
      'none of the requested scopes is allowed for this client',
    );
  const scope = granted.join(' ');
  const accessToken = await issueAccessToken(s.serverKey, {
    baseUrl: urls.baseUrl,
    clientId: client.clientId,
    scope,
    lifetimeSeconds: s.tokenLifetimeSeconds,
    fhirUser: client.fhirUser,
    patient: client.patient,
  });
  return {
    access_token: accessToken,
    token_type: 'bearer',
    expires_in: s.tokenLifetimeSeconds,
    scope,
  };
}

async function authenticateClient(
  assertion: string,
  clientIdParam: string | undefined,
  tokenUrl: string,
  s: TokenServices,
): Promise<RegisteredClient> {
  const refuse = (why: string) => new OAuthError('invalid_client', why);
  let unverified: ReturnType<typeof decodeJwt>;
  try {
    unverified = decodeJwt(assertion);
  } catch (err) {
    throw refuse(`client_assertion: ${(err as Error).message}`);
  }
  const { iss, sub } = unverified.claims;
  if (typeof iss !== 'string' || !iss) throw refuse('client_assertion has no iss');
  if (sub !== iss) throw refuse('client_assertion sub must equal iss (the client id)');
  if (clientIdParam !== undefined && clientIdParam !== iss)
    throw refuse('client_id does not match the assertion iss');
  const client = (await s.registry.current()).clients.find((c) => c.clientId === iss);
  if (!client) throw refuse('unknown client');

  let claims: Awaited<ReturnType<typeof verifySignature>>['claims'];
  try {
    const keys = client.jwks
      ? await inlineKeys(client.jwks)
      : await s.jwks.keys(client.jwksUri!, unverified.header.kid);
    ({ claims } = await verifySignature(assertion, keys, ASSERTION_ALGS));
  } catch (err) {
    if (err instanceof JwtError) throw refuse(`client_assertion: ${err.message}`);
    throw refuse("the client's JWKS could not be fetched");
  }
  const now = Math.floor(Date.now() / 1000);
  let exp: number;
  try {
    exp = checkTimes(claims, { now, leeway: LEEWAY_SECONDS, maxLifetime: MAX_ASSERTION_SECONDS });
  } catch (err) {
    throw refuse(`client_assertion: ${(err as Error).message}`);
  }
  if (!hasAudience(claims, tokenUrl))
    throw refuse(`client_assertion aud must be the token endpoint ${tokenUrl}`);
  if (typeof claims.jti !== 'string' || !claims.jti || claims.jti.length > 256)
    throw refuse('client_assertion needs a jti (at most 256 characters)');
  if (!(await recordJti(s.pool, client.clientId, claims.jti, exp + LEEWAY_SECONDS)))
    throw refuse('client_assertion jti was already used');
  return client;
}
