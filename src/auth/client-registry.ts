import { statSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A client allowed to use SMART Backend Services (client_credentials + private_key_jwt). */
export interface RegisteredClient {
  clientId: string;
  /** Public keys inline (a JWKS) ... */
  jwks?: { keys: object[] };
  /** ... or where to fetch them (cached). */
  jwksUri?: string;
  /** Space-separated scopes the client may be granted at most. */
  scope: string;
  /** Who the client acts for, e.g. `Practitioner/123` or `Organization/9`. */
  fhirUser?: string;
  /** A fixed patient context for this client (its `patient/` scopes apply to it). */
  patient?: string;
}

/** An authorization server whose access tokens this server accepts. */
export interface TrustedIssuer {
  issuer: string;
  jwks?: { keys: object[] };
  jwksUri?: string;
  /** Required `aud`; defaults to the FHIR base URL. */
  audience?: string;
}

export interface AuthRegistry {
  clients: RegisteredClient[];
  issuers: TrustedIssuer[];
}

export class RegistryError extends Error {
  override name = 'RegistryError';
}

const EMPTY: AuthRegistry = { clients: [], issuers: [] };
const ID = /^[A-Za-z0-9._~-]{1,128}$/;
const REF = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;

/** Validates the parsed registry file; messages name the entry and the field. */
export function parseRegistry(value: unknown, source: string): AuthRegistry {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new RegistryError(`${source}: must be a JSON object with "clients" and "issuers"`);
  const { clients = [], issuers = [] } = value as { clients?: unknown; issuers?: unknown };
  if (!Array.isArray(clients)) throw new RegistryError(`${source}: "clients" must be an array`);
  if (!Array.isArray(issuers)) throw new RegistryError(`${source}: "issuers" must be an array`);
  const seen = new Set<string>();
  const out: AuthRegistry = { clients: [], issuers: [] };
  clients.forEach((c: Partial<RegisteredClient>, i) => {
    const at = `${source}: clients[${i}]`;
    if (typeof c !== 'object' || c === null) throw new RegistryError(`${at} must be an object`);
    if (typeof c.clientId !== 'string' || !ID.test(c.clientId))
      throw new RegistryError(`${at}.clientId must be 1-128 characters of A-Z a-z 0-9 . _ ~ -`);
    if (seen.has(c.clientId)) throw new RegistryError(`${at}: clientId "${c.clientId}" repeats`);
    seen.add(c.clientId);
    keySource(c, at);
    if (typeof c.scope !== 'string' || !c.scope.trim())
      throw new RegistryError(`${at}.scope must list the scopes the client may get`);
    if (c.fhirUser !== undefined && (typeof c.fhirUser !== 'string' || !REF.test(c.fhirUser)))
      throw new RegistryError(`${at}.fhirUser must be a reference like Practitioner/123`);
    if (
      c.patient !== undefined &&
      (typeof c.patient !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(c.patient))
    )
      throw new RegistryError(`${at}.patient must be a Patient id`);
    out.clients.push(c as RegisteredClient);
  });
  issuers.forEach((x: Partial<TrustedIssuer>, i) => {
    const at = `${source}: issuers[${i}]`;
    if (typeof x !== 'object' || x === null) throw new RegistryError(`${at} must be an object`);
    if (typeof x.issuer !== 'string' || !x.issuer)
      throw new RegistryError(`${at}.issuer must be the issuer's identifier (its iss claim)`);
    keySource(x, at);
    if (x.audience !== undefined && typeof x.audience !== 'string')
      throw new RegistryError(`${at}.audience must be a string`);
    out.issuers.push(x as TrustedIssuer);
  });
  return out;
}

function keySource(entry: { jwks?: unknown; jwksUri?: unknown }, at: string): void {
  const hasInline = entry.jwks !== undefined;
  const hasUri = entry.jwksUri !== undefined;
  if (hasInline === hasUri)
    throw new RegistryError(`${at} needs exactly one of "jwks" or "jwksUri"`);
  if (hasInline) {
    const keys = (entry.jwks as { keys?: unknown })?.keys;
    if (!Array.isArray(keys) || keys.length === 0)
      throw new RegistryError(`${at}.jwks must be a JWKS: {"keys": [...]}`);
    for (const k of keys) {
      if (typeof k !== 'object' || k === null || 'd' in k)
        throw new RegistryError(`${at}.jwks must hold public keys only`);
    }
  } else {
    let url: URL;
    try {
      url = new URL(String(entry.jwksUri));
    } catch {
      throw new RegistryError(`${at}.jwksUri is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new RegistryError(`${at}.jwksUri must be http(s)`);
  }
}

/**
 * The registry file, re-read whenever it changes on disk, so that a client added
 * with the CLI works at once in a running server. A missing file is an empty
 * registry; a broken one keeps the last good content (and says why via onError).
 * The check is a stat per call; a caller on a hot path may accept a registry checked
 * up to `maxAgeMs` ago (under load the stat cost ~25 µs per request).
 */
export function watchRegistry(file: string, onError: (err: Error) => void) {
  let cached: { stamp: string; registry: AuthRegistry; checkedAt: number } | undefined;
  /** The registry as checked within the last `maxAgeMs`, if it was: no stat, no promise. */
  const recent = (maxAgeMs: number): AuthRegistry | undefined =>
    cached && performance.now() - cached.checkedAt < maxAgeMs ? cached.registry : undefined;
  return {
    recent,
    async current(maxAgeMs = 0): Promise<AuthRegistry> {
      const checked = maxAgeMs > 0 ? recent(maxAgeMs) : undefined;
      if (checked) return checked;
      const now = performance.now();
      let stamp: string;
      try {
        const s = statSync(file);
        stamp = `${s.mtimeMs}:${s.size}:${s.ino}`;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY;
        throw err;
      }
      if (cached?.stamp === stamp) {
        cached.checkedAt = now;
        return cached.registry;
      }
      try {
        const registry = await readRegistry(file);
        cached = { stamp, registry, checkedAt: now };
        return registry;
      } catch (err) {
        onError(err as Error);
        if (cached) return cached.registry;
        throw err;
      }
    },
  };
}

export type RegistryWatch = ReturnType<typeof watchRegistry>;

export async function readRegistry(file: string): Promise<AuthRegistry> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY;
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RegistryError(`${file} is not valid JSON`);
  }
  return parseRegistry(value, file);
}

/** Adds or replaces a client in the file (written atomically). */
export async function saveClient(file: string, client: RegisteredClient): Promise<void> {
  const registry = await readRegistry(file);
  const clients = registry.clients.filter((c) => c.clientId !== client.clientId);
  clients.push(client);
  const next = parseRegistry({ ...registry, clients }, file);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}
