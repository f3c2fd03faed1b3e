import type { RegistryWatch } from '../auth/client-registry.js';
import type { ConsentConfig } from '../config.js';
import type { Services } from '../fhir/interactions/types.js';
import { blockNumberReader } from '../ledger/block-number-reader.js';
import type { RunningLedger } from '../ledger/start-ledger.js';
import type { Logger } from '../logger.js';
import { type RunningAudit, startAudit } from './audit/start-audit.js';
import { ChainMirror } from './chain-mirror.js';
import { loadConsentSalt } from './consent-salt.js';
import { registerEnforcement } from './enforcement/register-enforcement.js';
import { type ConsentLifecycle, registerConsentLifecycle } from './lifecycle/register-lifecycle.js';

export interface StartConsentParameters {
  config: ConsentConfig;
  ledger: RunningLedger;
  services: Services;
  logger: Logger;
  /** The auth registry (clients, external issuers): who a token's client is. */
  registry: RegistryWatch;
}

export interface RunningConsent {
  mirror: ChainMirror;
  /** The AuditEvent writer (its counters serve tests and the benchmark). */
  audit: RunningAudit;
  /** FHIR Consent <-> grants (lifecycle/). */
  lifecycle: ConsentLifecycle;
  stop(): Promise<void>;
}

/**
 * Consent for a server with a chain: the salt, the chain mirror (synced once before the
 * first request, then followed), the enforcement hooks on every read path, the Consent
 * lifecycle (FHIR Consent <-> grants on chain) and the audit of every decision.
 */
export async function startConsent(params: StartConsentParameters): Promise<RunningConsent> {
  const { config, ledger, services, logger, registry } = params;
  const salt = await loadConsentSalt(config.saltFile);
  const mirror = new ChainMirror({
    pool: services.db.pool,
    client: ledger.client,
    // The head poll runs every CONSENT_POLL_MS: a lean eth_blockNumber, not viem's full stack.
    readHead: blockNumberReader(ledger.rpcUrl),
    registry: ledger.consentRegistry,
    fromBlock: config.fromBlock,
    confirmations: BigInt(config.confirmations),
    pollingIntervalMs: config.pollIntervalMs,
    maxHeadAgeMs: config.maxHeadAgeMs,
  });
  await mirror.sync();
  mirror.start();
  const context = { config, ledger, services, logger, salt, mirror, registry };
  const audit = startAudit(context);
  registerEnforcement(context);
  const lifecycle = registerConsentLifecycle(context);
  return {
    mirror,
    audit,
    lifecycle,
    async stop() {
      mirror.stop();
      await lifecycle.stop();
      await audit.stop();
    },
  };
}

/** What the parts of consent get from `startConsent`. */
export interface ConsentContext {
  config: ConsentConfig;
  ledger: RunningLedger;
  services: Services;
  logger: Logger;
  salt: `0x${string}`;
  mirror: ChainMirror;
  registry: RegistryWatch;
}
