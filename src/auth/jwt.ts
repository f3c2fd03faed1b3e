import jose from 'node-jose';

/** Why a JWT was refused; the message is safe to show to the client (no token content). */
export class JwtError extends Error {
  override name = 'JwtError';
}

export interface JwtHeader {
  alg: string;
  kid?: string;
  typ?: string;
  [key: string]: unknown;
}

export type JwtClaims = Record<string, unknown> & {
  iss?: unknown;
  sub?: unknown;
  aud?: unknown;
  exp?: unknown;
  nbf?: unknown;
  iat?: unknown;
  jti?: unknown;
};

/** Header and claims without checking anything: only to pick the issuer and key. */
export function decodeJwt(token: string): { header: JwtHeader; claims: JwtClaims } {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('not a compact JWS (three dot-separated parts)');
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as JwtHeader;
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as JwtClaims;
    if (typeof header !== 'object' || header === null || typeof header.alg !== 'string')
      throw new JwtError('JWT header has no alg');
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims))
      throw new JwtError('JWT claims are not a JSON object');
    return { header, claims };
  } catch (err) {
    if (err instanceof JwtError) throw err;
    throw new JwtError('JWT header or claims are not base64url JSON');
  }
}

/**
 * Verifies the signature with one of `keys`, allowing only `algorithms`.
 * node-jose checks signatures only, reports a tampered signature as "no key found",
 * and would accept whatever alg a key supports, so the alg is checked here first
 * (no `none`, no HS* with a public key as secret) and its errors mapped to one message.
 */
export async function verifySignature(
  token: string,
  keys: jose.JWK.KeyStore,
  algorithms: readonly string[],
): Promise<{ header: JwtHeader; claims: JwtClaims }> {
  const { header } = decodeJwt(token);
  if (!algorithms.includes(header.alg)) {
    throw new JwtError(`alg "${header.alg}" is not accepted (allowed: ${algorithms.join(', ')})`);
  }
  const candidates = keys.all({ alg: header.alg, ...(header.kid ? { kid: header.kid } : {}) });
  const usable = candidates.length
    ? candidates
    : keys.all(header.kid ? { kid: header.kid } : {}).filter((k) => !k.alg);
  if (usable.length === 0) {
    throw new JwtError(
      header.kid ? `no registered key has kid "${header.kid}"` : 'no registered key fits this alg',
    );
  }
  let result: jose.JWS.VerificationResult | undefined;
  for (const key of usable) {
    if (!keyFitsAlg(key, header.alg)) continue;
    try {
      result = await jose.JWS.createVerify(key, {
        algorithms: [header.alg],
        allowEmbeddedKey: false,
      }).verify(token);
      break;
    } catch {
      // try the next key; a bad signature and a wrong key look the same to node-jose
    }
  }
  if (!result) throw new JwtError('signature does not verify with the registered keys');
  let claims: JwtClaims;
  try {
    claims = JSON.parse(result.payload.toString('utf8')) as JwtClaims;
  } catch {
    throw new JwtError('JWT claims are not JSON');
  }
  return { header: result.header as JwtHeader, claims };
}

/** RS*, PS* only with RSA keys, ES* only with EC keys: no key confusion. */
function keyFitsAlg(key: jose.JWK.Key, alg: string): boolean {
  if (/^(RS|PS)\d+$/.test(alg)) return key.kty === 'RSA';
  if (/^ES\d+$/.test(alg)) return key.kty === 'EC';
  return false;
}

export interface TimeRules {
  /** Seconds since the epoch. */
  now: number;
  /** Tolerated clock skew, seconds. */
  leeway: number;
  /** Largest accepted `exp - now`, seconds (assertions: 300). */
  maxLifetime?: number;
}

/** exp required and in the future; nbf and iat, when present, not in the future. */
export function checkTimes(claims: JwtClaims, { now, leeway, maxLifetime }: TimeRules): number {
  const exp = claims.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new JwtError('exp is missing');
  if (exp + leeway <= now) throw new JwtError('token has expired');
  if (maxLifetime !== undefined && exp - now > maxLifetime + leeway) {
    throw new JwtError(`exp is more than ${maxLifetime} seconds ahead`);
  }
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf - leeway > now)) {
    throw new JwtError('token is not valid yet (nbf)');
  }
  if (claims.iat !== undefined && (typeof claims.iat !== 'number' || claims.iat - leeway > now)) {
    throw new JwtError('token is issued in the future (iat)');
  }
  return exp;
}

/** `aud` (a string or an array) contains `expected`. */
export function hasAudience(claims: JwtClaims, expected: string): boolean {
  const aud = claims.aud;
  const list = Array.isArray(aud) ? aud : [aud];
  return list.some((a) => typeof a === 'string' && trimSlash(a) === trimSlash(expected));
}

const trimSlash = (s: string) => s.replace(/\/+$/, '');

/** Signs claims as a compact JWS with the given private key and alg. */
export async function signJwt(
  claims: Record<string, unknown>,
  key: jose.JWK.Key,
  alg: string,
  typ = 'JWT',
): Promise<string> {
  return (await jose.JWS.createSign({ format: 'compact', fields: { alg, kid: key.kid, typ } }, key)
    .update(JSON.stringify(claims))
    .final()) as unknown as string;
}
