import path from 'node:path';
import type { Parameters, ParametersParameter } from 'fhir/r4.js';
import type pg from 'pg';
import type { LedgerConfig } from '../config.js';
import type { LedgerOperations } from '../fhir/interactions/types.js';
import type { Logger } from '../logger.js';
import type { AnchorBatchDependencies } from './anchor-batch.js';
import { createAnchorQueue } from './anchor-queue.js';
import { anchoringCounts } from './anchor-store.js';
import { ANVIL_DEV_PRIVATE_KEYS, startAnvil } from './anvil.js';
import { ensureContracts } from './ensure-contracts.js';
import { startInProcessAnchoring } from './in-process-anchoring.js';
import { createLedgerClient, type LedgerClient } from './ledger-client.js';
import { startRelay } from './relay.js';
import { reopenLostAnchors } from './reopen-lost-anchors.js';
import { verifyVersion } from './verify-version.js';

export interface StartLedgerParameters {
  config: LedgerConfig;
  /** Whether a ConsentRegistry this deploys lets the server grant for patients (CONSENT_CUSTODIAN_GRANTS). */
  allowCustodianGrants: boolean;
  dataDir: string;
  pool: pg.Pool;
  logger: Logger;
}

export interface RunningLedger {
  operations: LedgerOperations;
  client: LedgerClient;
  chainId: number;
  consentRegistry: `0x${string}`;
  provenanceAnchor: `0x${string}`;
  rpcUrl: string;
  /** Runs one relay pass now (tests, benchmarks). */
  relayTick(): Promise<void>;
  /** Tells the relay that versions were committed (the afterCommit hook). */
  wakeRelay(): void;
  stop(): Promise<void>;
}

/**
 * The API side of the ledger: the chain (an embedded anvil with its state in the data folder,
 * or CHAIN_RPC_URL), the contracts (deployed once, addresses in the data folder), the outbox
 * relay and, without REDIS_URL, the anchoring itself in this process. On start, batches whose
 * root the chain lost (an embedded chain killed between two state dumps) are reopened.
 */
export async function startLedger(params: StartLedgerParameters): Promise<RunningLedger> {
  const { config, dataDir, pool, logger, allowCustodianGrants } = params;
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  try {
    let rpcUrl: string;
    let publicRpcUrl: string | undefined;
    let client: LedgerClient;
    let contracts: { consentRegistry: `0x${string}`; provenanceAnchor: `0x${string}` };
    if (config.chain.kind === 'embedded') {
      const anvil = await startAnvil({
        port: config.chain.port || undefined,
        stateFile: path.join(dataDir, 'chain', 'anvil-state.json'),
        stateIntervalSeconds: 5,
        blockTime: config.chain.blockTime,
      });
      stops.push(anvil.stop);
      rpcUrl = publicRpcUrl = anvil.rpcUrl;
      client = await createLedgerClient({
        rpcUrl,
        privateKey: ANVIL_DEV_PRIVATE_KEYS[0],
        chainId: anvil.chainId,
        // Local and cheap to ask: a receipt is noticed within 50 ms of its block.
        pollingInterval: 50,
      });
      const deployment = await ensureContracts(client, {
        file: path.join(dataDir, 'contracts.json'),
        allowCustodianGrants,
      });
      if (deployment.deployed) logger.info({ chainId: anvil.chainId }, 'contracts deployed');
      contracts = deployment;
    } else {
      rpcUrl = config.chain.rpcUrl;
      publicRpcUrl = config.chain.publicRpcUrl;
      client = await createLedgerClient({ rpcUrl, privateKey: config.chain.privateKey });
      contracts = config.chain;
    }
    const chainId = client.chain.id;
    const deps: AnchorBatchDependencies = {
      pool,
      client,
      provenanceAnchor: contracts.provenanceAnchor,
      confirmations: config.anchor.confirmations,
      receiptTimeoutMs: config.anchor.receiptTimeoutMs,
    };
    const reopened = await reopenLostAnchors(pool, client, contracts.provenanceAnchor);
    if (reopened.length > 0) {
      logger.warn(
        { batches: reopened.length },
        'anchored roots missing from the chain; re-anchoring',
      );
    }
    const sink = config.redisUrl
      ? createAnchorQueue(config.redisUrl, config.queueName)
      : startInProcessAnchoring(deps, logger, config.anchor.concurrency);
    stops.push(() => sink.close());
    const relay = startRelay({
      pool,
      batchSize: config.anchor.batchSize,
      intervalMs: config.anchor.intervalMs,
      staleMs: config.anchor.redispatchAfterMs,
      dispatch: (ids) => sink.enqueue(ids),
      logger,
    });
    stops.push(() => relay.stop());

    const describe = async (): Promise<Parameters> => ({
      resourceType: 'Parameters',
      parameter: [
        { name: 'chainId', valueInteger: chainId },
        { name: 'consentRegistry', valueString: contracts.consentRegistry },
        { name: 'provenanceAnchor', valueString: contracts.provenanceAnchor },
        ...(publicRpcUrl ? [{ name: 'rpcUrl', valueUrl: publicRpcUrl }] : []),
        await anchoringPart(pool),
      ],
    });
    return {
      operations: {
        describe,
        verify: (version) =>
          verifyVersion(
            { pool, client, chainId, provenanceAnchor: contracts.provenanceAnchor },
            version,
          ),
      },
      client,
      chainId,
      ...contracts,
      rpcUrl,
      relayTick: () => relay.tick(),
      wakeRelay: () => relay.wake(),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** `$ledger`'s `anchoring` part: counts an operator or a monitor can alert on. */
async function anchoringPart(pool: pg.Pool): Promise<ParametersParameter> {
  const c = await anchoringCounts(pool);
  return {
    name: 'anchoring',
    part: [
      { name: 'unbatchedVersions', valueInteger: c.unbatchedVersions },
      { name: 'openBatches', valueInteger: c.openBatches },
      { name: 'failingBatches', valueInteger: c.failingBatches },
      { name: 'unrecoverableBatches', valueInteger: c.unrecoverableBatches },
      { name: 'anchoredBatches', valueInteger: c.anchoredBatches },
      // valueInteger is 32-bit in FHIR; a long-lived server passes that many versions.
      { name: 'anchoredVersions', valueDecimal: c.anchoredVersions },
      ...(c.lastAnchoredAt
        ? [{ name: 'lastAnchoredAt', valueInstant: new Date(c.lastAnchoredAt).toISOString() }]
        : []),
    ],
  };
}
