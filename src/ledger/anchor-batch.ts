import type pg from 'pg';
import {
  type Address,
  BaseError,
  ContractFunctionRevertedError,
  type Hash,
  TransactionNotFoundError,
  type TransactionReceipt,
  TransactionReceiptNotFoundError,
} from 'viem';
import {
  estimateFeesPerGas,
  getBlockNumber,
  getContractEvents,
  getTransaction,
  getTransactionReceipt,
  readContract,
  waitForTransactionReceipt,
  writeContract,
} from 'viem/actions';
import { fromHex, toHex } from '../provenance/content-hash.js';
import { provenanceAnchorAbi } from './abi/provenance-anchor.js';
import { loadBatch, loadLeaves, recordAnchored, recordSent } from './anchor-store.js';
import { AnchorRetryableError, AnchorUnrecoverableError } from './errors.js';
import type { LedgerClient } from './ledger-client.js';
import { buildMerkleTree, type MerkleTree } from './merkle.js';

export interface AnchorBatchDependencies {
  pool: pg.Pool;
  client: LedgerClient;
  provenanceAnchor: Address;
  confirmations: number;
  receiptTimeoutMs: number;
}

export type AnchorBatchReturnType = 'anchored' | 'already-anchored' | 'unknown-batch';

/**
 * Anchors one batch, safe to run any number of times and after a crash at any point: the
 * batch is re-read, a root already on chain is only recorded, a transaction sent earlier is
 * looked up (and re-sent when it was dropped or reverted) before a new one goes out.
 *
 * @example
 * await anchorBatch(deps, '42');
 */
export async function anchorBatch(
  deps: AnchorBatchDependencies,
  batchId: string,
): Promise<AnchorBatchReturnType> {
  const batch = await loadBatch(deps.pool, batchId);
  if (!batch) return 'unknown-batch';
  if (batch.anchoredAt) return 'already-anchored';
  const leaves = await loadLeaves(deps.pool, batch);
  // Outbox rows are never deleted, and a range starts at a committed row: no leaves, or
  // fewer than a legacy batch claimed, means the database was altered.
  if (leaves.length === 0 || (batch.firstSeq === null && leaves.length !== batch.leafCount)) {
    throw new AnchorUnrecoverableError(
      `batch ${batchId} holds ${leaves.length} outbox rows, ${batch.leafCount} when claimed`,
    );
  }
  const tree = buildMerkleTree(leaves);
  const root = toHex(tree.root);
  try {
    let replace: Replacement | undefined;
    if (batch.txHash) {
      const earlier = await receiptOf(deps, toHex(batch.txHash) as Hash, batch.sentAt);
      if (earlier && 'status' in earlier) {
        if (earlier.status === 'success') return finish(deps, batchId, tree, earlier);
      } else replace = earlier;
    }
    let hash: Hash;
    try {
      hash = await send(deps, root, tree.leafCount, toHex(batch.batchKey), replace);
    } catch (error) {
      // Anchored by an attempt that died before recording its transaction (or by another
      // worker): record that anchoring rather than a second one.
      if (revertName(error) !== 'ProvenanceAnchorRootAlreadyAnchored') throw error;
      const onChain = await anchoredTransaction(deps, root);
      if (!onChain) throw error;
      return finish(deps, batchId, tree, onChain);
    }
    await recordSent(deps.pool, batchId, fromHex(hash));
    const receipt = await waitForTransactionReceipt(deps.client, {
      hash,
      confirmations: deps.confirmations,
      timeout: deps.receiptTimeoutMs,
    });
    if (receipt.status !== 'success') {
      throw new AnchorRetryableError('anchor transaction reverted; it will be re-sent', {
        details: `transaction ${hash}`,
      });
    }
    return finish(deps, batchId, tree, receipt);
  } catch (error) {
    throw classify(error);
  }
}

/** An overdue transaction still pending: its nonce, and fees a replacement must outbid. */
interface Replacement {
  nonce: number;
  /** Given, not estimated: nodes estimate against a pending state that already anchors the root. */
  gas: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

async function finish(
  deps: AnchorBatchDependencies,
  batchId: string,
  tree: MerkleTree,
  receipt: Pick<TransactionReceipt, 'transactionHash' | 'blockNumber'>,
): Promise<AnchorBatchReturnType> {
  // A receipt in hand is one confirmation: the head is read only when more are wanted.
  const head =
    deps.confirmations > 1 ? await getBlockNumber(deps.client, { cacheTime: 0 }) : undefined;
  if (head !== undefined && head - receipt.blockNumber + 1n < BigInt(deps.confirmations)) {
    throw new AnchorRetryableError('anchor transaction mined; waiting for confirmations');
  }
  await recordAnchored(deps.pool, batchId, {
    root: tree.root,
    leafCount: tree.leafCount,
    nodes: tree.nodes,
    txHash: fromHex(receipt.transactionHash),
    blockNumber: receipt.blockNumber,
  });
  return 'anchored';
}

/**
 * The receipt of a transaction sent earlier; what a replacement needs when it is still pending
 * after `receiptTimeoutMs` (fee too low for the chain); undefined when it was dropped.
 */
async function receiptOf(
  deps: AnchorBatchDependencies,
  hash: Hash,
  sentAt: string | null,
): Promise<TransactionReceipt | Replacement | undefined> {
  try {
    return await getTransactionReceipt(deps.client, { hash });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  const pending = await getTransaction(deps.client, { hash }).catch((error) => {
    if (isNotFound(error)) return undefined;
    throw error;
  });
  if (!pending) return undefined;
  const age = sentAt ? Date.now() - new Date(sentAt).getTime() : Number.POSITIVE_INFINITY;
  if (age < deps.receiptTimeoutMs) {
    // Still in the mempool and not yet overdue: wait for it rather than racing a second one.
    return waitForTransactionReceipt(deps.client, {
      hash,
      confirmations: deps.confirmations,
      timeout: deps.receiptTimeoutMs - age,
    });
  }
  const fee = pending.maxFeePerGas ?? pending.gasPrice ?? 0n;
  return {
    nonce: pending.nonce,
    gas: pending.gas,
    maxFeePerGas: fee,
    maxPriorityFeePerGas: pending.maxPriorityFeePerGas ?? fee,
  };
}

/** The anchoring transaction of a root already on chain (from its RootAnchored event). */
async function anchoredTransaction(
  deps: AnchorBatchDependencies,
  root: Hash,
): Promise<{ transactionHash: Hash; blockNumber: bigint } | undefined> {
  const anchor = await readContract(deps.client, {
    address: deps.provenanceAnchor,
    abi: provenanceAnchorAbi,
    functionName: 'getAnchor',
    args: [root],
  });
  if (anchor.anchoredAt === 0n) return undefined;
  const [event] = await getContractEvents(deps.client, {
    address: deps.provenanceAnchor,
    abi: provenanceAnchorAbi,
    eventName: 'RootAnchored',
    args: { root },
    fromBlock: anchor.blockNumber,
    toBlock: anchor.blockNumber,
  });
  if (!event?.transactionHash) {
    throw new AnchorRetryableError('root is anchored but its event is not visible yet');
  }
  return { transactionHash: event.transactionHash, blockNumber: anchor.blockNumber };
}

/**
 * Sends (viem estimates gas first, so a call that would revert fails here with its reason).
 * Senders sharing the key are serialised by a PostgreSQL advisory lock (held only while
 * sending), so two workers never pick the same nonce. A replacement reuses the overdue
 * transaction's nonce and outbids its fees by a quarter (nodes want at least a tenth).
 */
async function send(
  deps: AnchorBatchDependencies,
  root: Hash,
  leafCount: number,
  batchKey: Hash,
  replace?: Replacement,
): Promise<Hash> {
  const lock = await deps.pool.connect();
  try {
    await lock.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [
      `anchor-signer:${deps.client.account.address}`,
    ]);
    let fees: Partial<Replacement> = {};
    if (replace) {
      const now = await estimateFeesPerGas(deps.client);
      const outbid = (old: bigint, current: bigint) => {
        const bumped = (old * 5n) / 4n + 1n;
        return bumped > current ? bumped : current;
      };
      const maxPriorityFeePerGas = outbid(replace.maxPriorityFeePerGas, now.maxPriorityFeePerGas);
      fees = {
        nonce: replace.nonce,
        gas: replace.gas,
        maxPriorityFeePerGas,
        // At least the tip on top of what the chain asks now: the fee cap never undercuts it.
        maxFeePerGas: outbid(replace.maxFeePerGas, now.maxFeePerGas + maxPriorityFeePerGas),
      };
    }
    return await writeContract(deps.client, {
      address: deps.provenanceAnchor,
      abi: provenanceAnchorAbi,
      functionName: 'anchor',
      args: [root, BigInt(leafCount), batchKey],
      account: deps.client.account,
      chain: deps.client.chain,
      ...fees,
    });
  } finally {
    await lock
      .query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [
        `anchor-signer:${deps.client.account.address}`,
      ])
      .catch(() => {});
    lock.release();
  }
}

const UNRECOVERABLE_REVERTS = new Set([
  'AccessControlUnauthorizedAccount',
  'ProvenanceAnchorBatchAlreadyAnchored',
  'ProvenanceAnchorZeroRoot',
  'ProvenanceAnchorZeroBatchId',
  'ProvenanceAnchorEmptyBatch',
]);

function classify(error: unknown): Error {
  if (error instanceof AnchorRetryableError || error instanceof AnchorUnrecoverableError) {
    return error;
  }
  if (error instanceof BaseError) {
    const name = revertName(error);
    // RootAlreadyAnchored is a race with another worker: the next attempt records it.
    if (name && UNRECOVERABLE_REVERTS.has(name)) {
      return new AnchorUnrecoverableError(`anchor would revert: ${name}`, { cause: error });
    }
    return new AnchorRetryableError(error.shortMessage, { cause: error });
  }
  return new AnchorRetryableError(error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}

/** The contract error a call reverted with, when it is one. */
function revertName(error: unknown): string | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const revert = error.walk((e) => e instanceof ContractFunctionRevertedError);
  return revert instanceof ContractFunctionRevertedError ? revert.data?.errorName : undefined;
}

function isNotFound(error: unknown): boolean {
  return (
    error instanceof TransactionReceiptNotFoundError || error instanceof TransactionNotFoundError
  );
}
