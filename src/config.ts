import { readFileSync } from 'node:fs';
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
  /** Chain, queue and anchoring; unset = Provenance and outbox rows only, nothing anchored. */
  ledger?: LedgerConfig;
  /** Consent enforcement and audit; in force whenever `ledger` is set (the grants live on its chain). */
  consent: ConsentConfig;
}

export interface ConsentConfig {
  /** The deployment's secret salt for on-chain commitments; created there on first start. */
  saltFile: string;
  /** The ConsentRegistry's deployment block: the mirror reads its logs from here. */
  fromBlock: bigint;
  /** Reads of patient data fail closed (503) when the mirror is more blocks than this behind the head. */
  maxStalenessBlocks: number;
  /** A chain head older than this counts as unknown (chain unreachable): fail closed. */
  maxHeadAgeMs: number;
  /** How often the mirror polls the chain for new blocks and ConsentRegistry events. */
  pollIntervalMs: number;
  /** Blocks the mirror stays behind the head, for chains that reorganise. */
  confirmations: number;
  /** Client ids of the record holder's own systems, permitted by policy without a grant (audited). */
  custodianClients: string[];
  /** Whether the server may write grants for patients itself (else only patient-signed grants are relayed). */
  custodianGrants: boolean;
  /** Audit events are written in batches: at most this long after the access. */
  auditFlushMs: number;
  /** AuditEvents waiting to be written beyond which reads are refused (503): no access goes unaudited. */
  auditMaxPending: number;
  /** Requests of one caller about one patient with the same outcome and basis, flushed together, share one AuditEvent. */
  auditGroup: boolean;
}

export interface LedgerConfig {
  chain: EmbeddedChainConfig | ExternalChainConfig;
  /** BullMQ on this Redis, anchoring in separate `fhir-ledger worker` processes; unset = in process. */
  redisUrl: string | undefined;
  /** BullMQ queue name. */
  queueName: string;
  anchor: AnchorConfig;
}

/** An anvil spawned by the server, state and contract addresses in the data folder. */
export interface EmbeddedChainConfig {
  kind: 'embedded';
  /** 0 = any free port. */
  port: number;
  /** Seconds per block; undefined = a block per transaction. */
  blockTime: number | undefined;
}

export interface ExternalChainConfig {
  kind: 'external';
  rpcUrl: string;
  /** Announced by $ledger for verifiers; the RPC URL the server uses may be private. */
  publicRpcUrl: string | undefined;
  consentRegistry: `0x${string}`;
  provenanceAnchor: `0x${string}`;
  /** Key of the server's account (anchorer and custodian), read from SIGNER_KEY_FILE. */
  privateKey: `0x${string}`;
}

export interface AnchorConfig {
  /** Most versions per Merkle root (one transaction). */
  batchSize: number;
  /** Blocks on top of the anchoring block before versions count as anchored. */
  confirmations: number;
  /** How often the relay looks for new outbox rows. */
  intervalMs: number;
  /** How long to wait for a receipt before checking whether the transaction was dropped. */
  receiptTimeoutMs: number;
  /** A batch handed to the queue and still open after this long is handed over again. */
  redispatchAfterMs: number;
  /** How often BullMQ looks for jobs of dead workers (their lock lasts twice this). */
  stalledCheckMs: number;
  /** Batches one process (server or worker) anchors at the same time. */
  concurrency: number;
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
    ledger: loadLedgerConfig(env),
    consent: loadConsentConfig(env),
  };
}

function loadConsentConfig(env: NodeJS.ProcessEnv): ConsentConfig {
  const dataDir = path.resolve(env.DATA_DIR ?? 'data');
  const fromBlock = env.CONSENT_FROM_BLOCK || '0';
  if (!/^\d{1,20}$/.test(fromBlock)) {
    throw new ConfigError(`CONSENT_FROM_BLOCK must be a block number; got "${fromBlock}"`);
  }
  // Unset: the operator's own `fhir-ledger token` client, so the quick start works; set empty: none.
  const custodians = (env.CONSENT_CUSTODIAN_CLIENTS ?? 'local-cli')
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  return {
    saltFile: path.resolve(env.CONSENT_SALT_FILE || path.join(dataDir, 'consent', 'salt')),
    fromBlock: BigInt(fromBlock),
    maxStalenessBlocks: integer(env, 'CONSENT_MAX_STALENESS_BLOCKS', 2, 0, 1_000_000),
    maxHeadAgeMs: integer(env, 'CONSENT_MAX_HEAD_AGE_MS', 5000, 100, 3_600_000),
    pollIntervalMs: integer(env, 'CONSENT_POLL_MS', 25, 10, 60_000),
    confirmations: integer(env, 'CONSENT_CONFIRMATIONS', 0, 0, 1000),
    custodianClients: custodians,
    custodianGrants: boolean(env, 'CONSENT_CUSTODIAN_GRANTS', true),
    auditFlushMs: integer(env, 'AUDIT_FLUSH_MS', 1000, 10, 60_000),
    auditMaxPending: integer(env, 'AUDIT_MAX_PENDING', 50_000, 1, 10_000_000),
    auditGroup: boolean(env, 'AUDIT_GROUP', true),
  };
}

function boolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false; got "${raw}"`);
}

function loadLedgerConfig(env: NodeJS.ProcessEnv): LedgerConfig {
  const rpcUrl = optionalUrl(env, 'CHAIN_RPC_URL', ['http:', 'https:']);
  const blockTime = env.CHAIN_BLOCK_TIME ? integer(env, 'CHAIN_BLOCK_TIME', 0, 1, 3600) : undefined;
  const chain: LedgerConfig['chain'] = rpcUrl
    ? {
        kind: 'external',
        rpcUrl,
        publicRpcUrl: optionalUrl(env, 'CHAIN_PUBLIC_RPC_URL', ['http:', 'https:']),
        consentRegistry: address(env, 'CONSENT_REGISTRY_ADDRESS'),
        provenanceAnchor: address(env, 'PROVENANCE_ANCHOR_ADDRESS'),
        privateKey: privateKeyFile(env),
      }
    : { kind: 'embedded', port: integer(env, 'CHAIN_PORT', 8545, 0, 65535), blockTime };
  const queueName = env.ANCHOR_QUEUE || 'anchor';
  if (!/^[\w.-]{1,100}$/.test(queueName)) {
    throw new ConfigError('ANCHOR_QUEUE may hold letters, digits, "_", "." and "-" only');
  }
  return {
    chain,
    redisUrl: optionalUrl(env, 'REDIS_URL', ['redis:', 'rediss:']),
    queueName,
    anchor: {
      batchSize: integer(env, 'ANCHOR_BATCH_SIZE', 20_000, 1, 1_000_000),
      confirmations: integer(env, 'ANCHOR_CONFIRMATIONS', 1, 1, 1000),
      intervalMs: integer(env, 'ANCHOR_INTERVAL_MS', 500, 10, 3_600_000),
      receiptTimeoutMs: integer(env, 'ANCHOR_RECEIPT_TIMEOUT_MS', 120_000, 100, 86_400_000),
      redispatchAfterMs: integer(env, 'ANCHOR_REDISPATCH_MS', 600_000, 100, 86_400_000),
      stalledCheckMs: integer(env, 'ANCHOR_STALLED_CHECK_MS', 5000, 100, 600_000),
      concurrency: integer(env, 'ANCHOR_CONCURRENCY', 4, 1, 64),
    },
  };
}

function address(env: NodeJS.ProcessEnv, name: string): `0x${string}` {
  const raw = env[name];
  if (!raw) throw new ConfigError(`${name} is required with CHAIN_RPC_URL`);
  if (!/^0x[0-9a-fA-F]{40}$/.test(raw)) {
    throw new ConfigError(`${name} must be a 0x-prefixed 20-byte hex address`);
  }
  return raw as `0x${string}`;
}

function privateKeyFile(env: NodeJS.ProcessEnv): `0x${string}` {
  const file = env.SIGNER_KEY_FILE;
  if (!file) throw new ConfigError('SIGNER_KEY_FILE is required with CHAIN_RPC_URL');
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    throw new ConfigError(`SIGNER_KEY_FILE cannot be read: ${file}`);
  }
  const key = text.startsWith('0x') ? text : `0x${text}`;
  // Never echo the file's content: it is a secret.
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) {
    throw new ConfigError('SIGNER_KEY_FILE must hold a 32-byte hex private key');
  }
  return key as `0x${string}`;
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
