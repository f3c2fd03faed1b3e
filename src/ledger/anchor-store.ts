import { randomBytes } from 'node:crypto';
import type pg from 'pg';

/** A batch as the worker sees it; bytea columns come back as Buffers. */
export interface BatchRow {
  id: string;
  batchKey: Buffer;
  leafCount: number;
  txHash: Buffer | null;
  sentAt: string | null;
  anchoredAt: string | null;
}

/**
 * Moves up to `size` unbatched outbox rows into a new batch in one statement; rows committed
 * later (their seq was taken earlier) simply go into a later batch. Undefined when none wait.
 */
export async function claimBatch(
  pool: pg.Pool,
  size: number,
): Promise<{ id: string; leafCount: number } | undefined> {
  const { rows } = await pool.query<{ id: string; leaf_count: number }>(
    `WITH picked AS (
       SELECT seq FROM anchor_outbox WHERE batch_id IS NULL ORDER BY seq LIMIT $1
       FOR UPDATE SKIP LOCKED
     ), batch AS (
       INSERT INTO anchor_batch (batch_key, leaf_count)
       SELECT $2, count(*) FROM picked HAVING count(*) > 0
       RETURNING id, leaf_count
     ), moved AS (
       UPDATE anchor_outbox o SET batch_id = batch.id FROM batch
        WHERE o.seq IN (SELECT seq FROM picked)
     )
     SELECT id, leaf_count FROM batch`,
    [size, randomBytes(32)],
  );
  const row = rows[0];
  return row && { id: row.id, leafCount: row.leaf_count };
}

/** Open batches never handed to the queue, or handed over longer ago than `staleMs`. */
export async function batchesToDispatch(pool: pg.Pool, staleMs: number): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id FROM anchor_batch
      WHERE anchored_at IS NULL
        AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => $1 / 1000.0))
      ORDER BY id LIMIT 1000`,
    [staleMs],
  );
  return rows.map((r) => r.id);
}

export async function markDispatched(pool: pg.Pool, ids: string[]): Promise<void> {
  await pool.query('UPDATE anchor_batch SET enqueued_at = now() WHERE id = ANY($1::bigint[])', [
    ids,
  ]);
}

export async function loadBatch(pool: pg.Pool, id: string): Promise<BatchRow | undefined> {
  const { rows } = await pool.query(
    `SELECT id, batch_key, leaf_count, tx_hash, sent_at, anchored_at FROM anchor_batch WHERE id = $1`,
    [id],
  );
  const row = rows[0];
  return (
    row && {
      id: row.id,
      batchKey: row.batch_key,
      leafCount: row.leaf_count,
      txHash: row.tx_hash,
      sentAt: row.sent_at,
      anchoredAt: row.anchored_at,
    }
  );
}

export async function loadLeaves(pool: pg.Pool, batchId: string): Promise<Uint8Array[]> {
  const { rows } = await pool.query<{ leaf: Buffer }>(
    'SELECT leaf FROM anchor_outbox WHERE batch_id = $1',
    [batchId],
  );
  return rows.map((r) => new Uint8Array(r.leaf.buffer, r.leaf.byteOffset, r.leaf.byteLength));
}

/** Remembers the transaction before waiting for it, so a restarted worker can look it up. */
export async function recordSent(pool: pg.Pool, id: string, txHash: Uint8Array): Promise<void> {
  await pool.query(
    `UPDATE anchor_batch SET tx_hash = $2, sent_at = now(), attempts = attempts + 1 WHERE id = $1`,
    [id, Buffer.from(txHash)],
  );
}

export interface AnchoredBatch {
  root: Uint8Array;
  nodes: Uint8Array;
  txHash: Uint8Array;
  blockNumber: bigint;
}

/** Stores root, transaction, block and the tree (every leaf's proof) and marks the batch anchored. */
export async function recordAnchored(pool: pg.Pool, id: string, a: AnchoredBatch): Promise<void> {
  await pool.query(
    `UPDATE anchor_batch
        SET root = $2, tree = $3, tx_hash = $4, block_number = $5, anchored_at = now(),
            last_error = NULL
      WHERE id = $1`,
    [
      id,
      Buffer.from(a.root),
      Buffer.from(a.nodes),
      Buffer.from(a.txHash),
      a.blockNumber.toString(),
    ],
  );
}

export async function recordError(pool: pg.Pool, id: string, message: string): Promise<void> {
  await pool.query('UPDATE anchor_batch SET last_error = $2 WHERE id = $1', [
    id,
    message.slice(0, 2000),
  ]);
}

export interface VersionAnchor {
  contentHash: Buffer;
  leaf: Buffer;
  batchKey: Buffer | null;
  root: Buffer | null;
  tree: Buffer | null;
  txHash: Buffer | null;
  blockNumber: string | null;
  anchoredAt: string | null;
}

/** A version's outbox row with its batch; undefined when the version has none. */
export async function versionAnchor(
  pool: pg.Pool,
  resourceType: string,
  id: string,
  versionId: number,
): Promise<VersionAnchor | undefined> {
  const { rows } = await pool.query(
    `SELECT o.content_hash, o.leaf, b.batch_key, b.root, b.tree, b.tx_hash, b.block_number,
            b.anchored_at
       FROM anchor_outbox o LEFT JOIN anchor_batch b ON b.id = o.batch_id
      WHERE o.resource_type = $1 AND o.id = $2 AND o.version_id = $3`,
    [resourceType, id, versionId],
  );
  const row = rows[0];
  return (
    row && {
      contentHash: row.content_hash,
      leaf: row.leaf,
      batchKey: row.batch_key,
      root: row.root,
      tree: row.tree,
      txHash: row.tx_hash,
      blockNumber: row.block_number,
      anchoredAt: row.anchored_at,
    }
  );
}
