import type { LedgerConfig } from '../../src/config.js';
import {
  ANVIL_DEV_PRIVATE_KEYS,
  type StartAnvilParameters,
  startAnvil,
} from '../../src/ledger/anvil.js';
import { deployContracts } from '../../src/ledger/deploy-contracts.js';
import { createLedgerClient, type LedgerClient } from '../../src/ledger/ledger-client.js';

export interface TestChain {
  rpcUrl: string;
  port: number;
  /** Deployer and admin (anvil key 0). */
  admin: LedgerClient;
  consentRegistry: `0x${string}`;
  provenanceAnchor: `0x${string}`;
  /** The key the server anchors with (anvil key 1, anchorer and custodian). */
  operatorKey: `0x${string}`;
  /** Ledger configuration for a server using this chain. */
  ledgerConfig(
    overrides?: Partial<LedgerConfig['anchor']> & { redisUrl?: string; queueName?: string },
  ): LedgerConfig;
  rpc(method: string, params?: unknown[]): Promise<unknown>;
  stop(): Promise<void>;
}

/** One anvil with freshly deployed contracts; share it across a test file. */
export async function startTestChain(options: StartAnvilParameters = {}): Promise<TestChain> {
  const anvil = await startAnvil(options);
  const admin = await createLedgerClient({
    rpcUrl: anvil.rpcUrl,
    privateKey: ANVIL_DEV_PRIVATE_KEYS[0],
    chainId: anvil.chainId,
    pollingInterval: 50,
  });
  const operatorKey = ANVIL_DEV_PRIVATE_KEYS[1];
  const operator = (
    await createLedgerClient({
      rpcUrl: anvil.rpcUrl,
      privateKey: operatorKey,
      chainId: anvil.chainId,
    })
  ).account.address;
  const deployment = await deployContracts(admin, { allowCustodianGrants: true, operator });
  const rpc = async (method: string, params: unknown[] = []) => {
    const response = await fetch(anvil.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    });
    const body = (await response.json()) as { result?: unknown; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result;
  };
  return {
    rpcUrl: anvil.rpcUrl,
    port: anvil.port,
    admin,
    consentRegistry: deployment.consentRegistry,
    provenanceAnchor: deployment.provenanceAnchor,
    operatorKey,
    ledgerConfig: ({ redisUrl, queueName, ...anchor } = {}) => ({
      chain: {
        kind: 'external',
        rpcUrl: anvil.rpcUrl,
        publicRpcUrl: anvil.rpcUrl,
        consentRegistry: deployment.consentRegistry,
        provenanceAnchor: deployment.provenanceAnchor,
        privateKey: operatorKey,
      },
      redisUrl,
      queueName: queueName ?? 'anchor',
      anchor: {
        batchSize: 5,
        confirmations: 1,
        intervalMs: 50,
        receiptTimeoutMs: 10_000,
        redispatchAfterMs: 5000,
        stalledCheckMs: 1000,
        concurrency: 4,
        ...anchor,
      },
    }),
    rpc,
    stop: anvil.stop,
  };
}

/** Polls `check` until it returns true; fails after `timeoutMs` with `what` in the message. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
