import path from 'node:path';

/** Everything the server reads from its environment, validated once at start-up. */
export interface Config {
  port: number;
  host: string;
  /** Folder for the embedded PostgreSQL and other local state. */
  dataDir: string;
  /** When set, this PostgreSQL is used instead of the embedded one. */
  databaseUrl: string | undefined;
  /** Absolute base URL clients see (for Location and fullUrl); derived from the request when unset. */
  publicBaseUrl: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  /** SMART authorization (always on): client registry, token signing key, lifetimes. */
  auth: AuthConfig;
}

export interface AuthConfig {
  /** JSON file of registered clients and trusted issuers; re-read when it changes. */
  registryFile: string;
  /** Private JWK signing the access tokens; generated there on first start when missing. */
  signingKeyFile: string;
  tokenLifetimeSeconds: number;
  /** How long a fetched jwks_uri (client or issuer keys) is reused. */
  jwksCacheSeconds: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Reads and validates configuration; the only module that reads `process.env`. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; got "${logLevel}"`);
  }
  return {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: env.HOST ?? '0.0.0.0',
    dataDir: path.resolve(env.DATA_DIR ?? 'data'),
    databaseUrl: optionalUrl(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    publicBaseUrl: optionalUrl(env, 'PUBLIC_BASE_URL', ['http:', 'https:'])?.replace(/\/+$/, ''),
    logLevel: logLevel as Config['logLevel'],
    maxBodyBytes: integer(env, 'MAX_BODY_BYTES', 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    auth: loadAuthConfig(env),
  };
}

function loadAuthConfig(env: NodeJS.ProcessEnv): AuthConfig {
  const dataDir = path.resolve(env.DATA_DIR ?? 'data');
  const file = (name: string, fallback: string) =>
    path.resolve(env[name] || path.join(dataDir, 'auth', fallback));
  return {
    registryFile: file('AUTH_REGISTRY_FILE', 'registry.json'),
    signingKeyFile: file('AUTH_SIGNING_KEY_FILE', 'signing-key.json'),
    tokenLifetimeSeconds: integer(env, 'AUTH_TOKEN_LIFETIME', 300, 60, 86_400),
    jwksCacheSeconds: integer(env, 'AUTH_JWKS_CACHE_SECONDS', 600, 0, 86_400),
  };
}

function integer(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}; got "${raw}"`);
  }
  return value;
}

function optionalUrl(
  env: NodeJS.ProcessEnv,
  name: string,
  protocols: string[],
): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(' or ')}; got "${url.protocol}"`);
  }
  return raw;
}
