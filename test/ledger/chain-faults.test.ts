import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Hash } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { readContract, writeContract } from 'viem/actions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provenanceAnchorAbi } from '../../src/ledger/abi/provenance-anchor.js';
import { type StartAnvilReturnType, startAnvil } from '../../src/ledger/anvil.js';
import { createPatients, openRows } from '../support/anchoring.js';
import { startTestChain, type TestChain, waitFor } from '../support/test-chain.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

// In-process anchoring against a chain this file stops, restarts and tampers with.
let dir: string;
let stateFile: string;
let chain: TestChain;
let restarted: StartAnvilReturnType | undefined;
let server: TestServer;
let db: pg.Client;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-chain-faults-'));
  stateFile = path.join(dir, 'anvil-state.json');
  chain = await startTestChain({ stateFile });
  // A short receipt timeout: a dropped transaction is noticed after 1.5 s, not 2 minutes.
  server = await startTestServer({ ledger: chain.ledgerConfig({ receiptTimeoutMs: 1500 }) });
  db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
}, 60_000);

afterAll(async () => {
  await db?.end();
  await server?.close();
  await restarted?.stop();
  await chain?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Transaction hashes of the batches sent but not anchored yet. */
async function sentOpenBatches(): Promise<Hash[]> {
  const { rows } = await db.query<{ tx: string }>(
    `SELECT '0x' || encode(tx_hash, 'hex') AS tx FROM anchor_batch
      WHERE anchored_at IS NULL AND tx_hash IS NOT NULL`,
  );
  return rows.map((r) => r.tx as Hash);
}

/** Every open batch has been sent, and the node knows its latest transaction. */
async function everyOpenBatchInMempool(): Promise<boolean> {
  const { rows } = await db.query<{ tx: string | null }>(
    `SELECT '0x' || encode(tx_hash, 'hex') AS tx FROM anchor_batch WHERE anchored_at IS NULL`,
  );
  if (rows.length === 0 || rows.some((r) => r.tx === null)) return false;
  for (const { tx } of rows) {
    if ((await chain.rpc('eth_getTransactionByHash', [tx])) === null) return false;
  }
  return true;
}

async function expectEachRootOnceOnChain(): Promise<void> {
  const { rows } = await db.query<{ root: Buffer }>('SELECT root FROM anchor_batch');
  const roots = rows.map((r) => r.root.toString('hex'));
  expect(new Set(roots).size).toBe(roots.length);
  const count = await readContract(chain.admin, {
    address: chain.provenanceAnchor,
    abi: provenanceAnchorAbi,
    functionName: 'anchorCount',
  });
  expect(Number(count)).toBe(roots.length);
}

describe('anchoring survives chain faults', () => {
  it('re-sends a transaction the node dropped', async () => {
    await chain.rpc('evm_setAutomine', [false]);
    try {
      await createPatients(server, 2, 'Dropped');
      await waitFor('the anchor transactions to be sent', everyOpenBatchInMempool);
      for (const hash of await sentOpenBatches()) {
        await chain.rpc('anvil_dropTransaction', [hash]);
        expect(await chain.rpc('eth_getTransactionByHash', [hash])).toBeNull();
      }
      // Re-signed with the same nonce, fees and data, a re-sent transaction may keep its hash.
      await waitFor('the dropped transactions re-sent', everyOpenBatchInMempool);
    } finally {
      await chain.rpc('evm_setAutomine', [true]);
    }
    await chain.rpc('evm_mine');
    await waitFor('every version anchored', async () => (await openRows(db)) === 0);
    await expectEachRootOnceOnChain();
  });

  it('replaces a transaction still pending when overdue: same nonce, higher fee', async () => {
    await chain.rpc('evm_setAutomine', [false]);
    let first: Hash;
    let replacement: Hash;
    let before: Awaited<ReturnType<typeof chain.admin.getTransaction>>;
    try {
      await createPatients(server, 1, 'Overdue');
      await waitFor('the anchor transaction sent', everyOpenBatchInMempool);
      [first] = (await sentOpenBatches()) as [Hash];
      before = await chain.admin.getTransaction({ hash: first });
      // Nothing is mined: after the 1.5 s receipt timeout the worker must outbid it.
      await waitFor('a replacement sent', async () => {
        const [now] = await sentOpenBatches();
        return now !== undefined && now !== first;
      });
      [replacement] = (await sentOpenBatches()) as [Hash];
    } finally {
      await chain.rpc('evm_setAutomine', [true]);
    }
    const after = await chain.admin.getTransaction({ hash: replacement });
    expect(after.nonce).toBe(before.nonce);
    expect(after.maxFeePerGas! > before.maxFeePerGas!).toBe(true);
    expect(after.maxPriorityFeePerGas! > before.maxPriorityFeePerGas!).toBe(true);
    await chain.rpc('evm_mine');
    await waitFor('every version anchored', async () => (await openRows(db)) === 0);
    await expect(chain.admin.getTransactionReceipt({ hash: first })).rejects.toThrow();
    await expectEachRootOnceOnChain();
  });

  it('re-sends a transaction that reverted on chain', async () => {
    const role = await readContract(chain.admin, {
      address: chain.provenanceAnchor,
      abi: provenanceAnchorAbi,
      functionName: 'ANCHORER_ROLE',
    });
    const operator = privateKeyToAccount(chain.operatorKey).address;
    const setRole = (functionName: 'grantRole' | 'revokeRole', priority: bigint) =>
      writeContract(chain.admin, {
        address: chain.provenanceAnchor,
        abi: provenanceAnchorAbi,
        functionName,
        args: [role, operator],
        maxPriorityFeePerGas: priority,
        maxFeePerGas: 1000n * 10n ** 9n,
      });
    let reverted: Hash[];
    await chain.rpc('evm_setAutomine', [false]);
    try {
      await createPatients(server, 2, 'Reverted');
      await waitFor('the anchor transactions to be sent', everyOpenBatchInMempool);
      reverted = await sentOpenBatches();
      // Mined ahead of it (higher tip): the anchor transaction, simulated fine, reverts.
      await setRole('revokeRole', 500n * 10n ** 9n);
      await chain.rpc('evm_mine');
    } finally {
      await chain.rpc('evm_setAutomine', [true]);
    }
    await setRole('grantRole', 10n ** 9n);
    for (const hash of reverted) {
      const receipt = await chain.admin.getTransactionReceipt({ hash });
      expect(receipt.status).toBe('reverted');
    }
    await waitFor('every version anchored', async () => (await openRows(db)) === 0);
    const { rows } = await db.query<{ tx: string }>(
      `SELECT '0x' || encode(tx_hash, 'hex') AS tx FROM anchor_batch`,
    );
    for (const hash of reverted) expect(rows.map((r) => r.tx)).not.toContain(hash);
    await expectEachRootOnceOnChain();
  });

  it('keeps accepting writes while the chain is down and anchors them once it is back', async () => {
    await createPatients(server, 1, 'BeforeOutage');
    await waitFor('the first version anchored', async () => (await openRows(db)) === 0);
    await chain.stop(); // SIGTERM: anvil writes its state file
    const started = Date.now();
    await createPatients(server, 4, 'DuringOutage');
    expect(Date.now() - started).toBeLessThan(10_000);
    const verifyDuringOutage = await server.api.get('/$ledger');
    expect(verifyDuringOutage.status).toBe(200);
    expect(await openRows(db)).toBeGreaterThan(0);
    await waitFor('anchoring to have tried and failed while the chain is down', async () => {
      const { rows } = await db.query(
        'SELECT count(*)::int AS n FROM anchor_batch WHERE anchored_at IS NULL AND last_error IS NOT NULL',
      );
      return rows[0].n > 0;
    });

    restarted = await startAnvil({ port: chain.port, stateFile });
    await waitFor(
      'the backlog anchored after the chain returned',
      async () => (await openRows(db)) === 0,
      60_000,
    );
    await expectEachRootOnceOnChain();
    const { rows } = await db.query<{ id: string }>(
      `SELECT id FROM resource_version WHERE resource_type = 'Patient' AND content->'name'->0->>'family' = 'DuringOutage0'`,
    );
    const verify = await server.api.get(`/Patient/${rows[0]!.id}/_history/1/$verify`).expect(200);
    expect(
      verify.body.parameter.find((p: { name: string }) => p.name === 'verified').valueBoolean,
    ).toBe(true);
  });
});
