import { randomUUID } from 'node:crypto';
import type { RegistryWatch } from './client-registry.js';
import type { JwksCache } from './jwks-cache.js';
import { inlineKeys } from './jwks-cache.js';
import {
  checkTimes,
  decodeJwt,
  hasAudience,
  type JwtClaims,
  JwtError,
  signJwt,
  verifySignature,
} from './jwt.js';
import type { Principal } from './principal.js';
import { parseScopes } from './scopes.js';
import type { ServerKey } from './server-key.js';

/** Algorithms accepted on access tokens of external issuers: asymmetric only. */
export const EXTERNAL_ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
];
const LEEWAY_SECONDS = 30;

/**
 * The server's own tokens whose signature was verified, with their claims. Its key does not
 * change while the process runs, so a signature checked once stays good, and each request
 * saves a public-key verification (~1 ms); times and audience are still checked on every
 * use. Insertion order is age: the oldest goes when the cache is full.
 */
const MAX_VERIFIED_TOKENS = 10_000;
const verifiedByKey = new WeakMap<ServerKey, Map<string, JwtClaims>>();
function verifiedOwnTokens(key: ServerKey): Map<string, JwtClaims> {
  let verified = verifiedByKey.get(key);
  if (!verified) {
    verified = new Map();
    verifiedByKey.set(key, verified);
  }
  return verified;
}

export interface IssueParameters {
  /** This server's FHIR base URL: issuer and audience of its tokens. */
  baseUrl: string;
  clientId: string;
  scope: string;
  lifetimeSeconds: number;
  fhirUser?: string;
  patient?: string;
}

/** A signed access token (JWT) for a client that authenticated at the token endpoint. */
export async function issueAccessToken(key: ServerKey, p: IssueParameters): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(
    {
      iss: p.baseUrl,
      aud: p.baseUrl,
      sub: p.clientId,
      client_id: p.clientId,
      scope: p.scope,
      iat: now,
      exp: now + p.lifetimeSeconds,
      jti: randomUUID(),
      ...(p.fhirUser ? { fhirUser: p.fhirUser } : {}),
      ...(p.patient ? { patient: p.patient } : {}),
    },
    key.key,
    key.alg,
    'at+jwt',
  );
}

export interface VerifyContext {
  serverKey: ServerKey;
  registry: RegistryWatch;
  jwks: JwksCache;
  /** The FHIR base URL the request came to: this server's issuer and audience. */
  baseUrl: string;
  isType: (t: string) => boolean;
  now?: number;
}

/**
 * A bearer token to a Principal: this server's own tokens (signed by its key, iss
 * and aud = the FHIR base) or a configured external issuer's (its keys, its
 * audience). Every check node-jose leaves out (exp, nbf, iat, aud, iss) is here.
 */
export async function verifyAccessToken(token: string, v: VerifyContext): Promise<Principal> {
  const { header, claims: unverified } = decodeJwt(token);
  const iss = typeof unverified.iss === 'string' ? unverified.iss : undefined;
  if (!iss) throw new JwtError('token has no iss');
  const now = v.now ?? Math.floor(Date.now() / 1000);
  if (sameUrl(iss, v.baseUrl)) {
    const verified = verifiedOwnTokens(v.serverKey);
    let claims = verified.get(token);
    if (!claims) {
      const keys = await inlineKeys(v.serverKey.jwks);
      claims = (await verifySignature(token, keys, [v.serverKey.alg])).claims;
      if (verified.size >= MAX_VERIFIED_TOKENS) verified.delete(verified.keys().next().value!);
      verified.set(token, claims);
    }
    try {
      checkTimes(claims, { now, leeway: LEEWAY_SECONDS });
    } catch (err) {
      verified.delete(token);
      throw err;
    }
    if (!hasAudience(claims, v.baseUrl)) throw new JwtError('token is for another audience');
    return toPrincipal(iss, claims, v.isType);
  }
  const issuer = (await v.registry.current()).issuers.find((i) => i.issuer === iss);
  if (!issuer) throw new JwtError('token issuer is not trusted by this server');
  const keys = issuer.jwks
    ? await inlineKeys(issuer.jwks)
    : await v.jwks.keys(issuer.jwksUri!, header.kid);
  const { claims } = await verifySignature(token, keys, EXTERNAL_ALGS);
  checkTimes(claims, { now, leeway: LEEWAY_SECONDS });
  if (!hasAudience(claims, issuer.audience ?? v.baseUrl)) {
    throw new JwtError('token is for another audience');
  }
  return toPrincipal(iss, claims, v.isType);
}

function toPrincipal(issuer: string, claims: JwtClaims, isType: (t: string) => boolean): Principal {
  const scopeText = Array.isArray(claims.scp)
    ? claims.scp.filter((s): s is string => typeof s === 'string').join(' ')
    : typeof claims.scope === 'string'
      ? claims.scope
      : '';
  const subject = typeof claims.sub === 'string' ? claims.sub : undefined;
  const clientId =
    typeof claims.client_id === 'string'
      ? claims.client_id
      : typeof claims.azp === 'string'
        ? claims.azp
        : subject;
  if (!subject || !clientId) throw new JwtError('token has no sub');
  const patient = typeof claims.patient === 'string' ? claims.patient : undefined;
  if (patient !== undefined && !/^[A-Za-z0-9\-.]{1,64}$/.test(patient))
    throw new JwtError('patient claim is not a Patient id');
  const purpose = claims.purpose_of_use;
  return {
    issuer,
    subject,
    clientId,
    scopes: parseScopes(scopeText, isType),
    scopeText,
    ...(typeof claims.fhirUser === 'string' ? { fhirUser: claims.fhirUser } : {}),
    ...(patient ? { patient } : {}),
    purposeOfUse: (Array.isArray(purpose) ? purpose : purpose === undefined ? [] : [purpose])
      .map(String)
      .filter(Boolean),
    ...(typeof claims.jti === 'string' ? { tokenId: claims.jti } : {}),
  };
}

const sameUrl = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
