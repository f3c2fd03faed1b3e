import { randomBytes } from 'node:crypto';
import type pg from 'pg';

/** A batch as the worker sees it; bytea columns come back as Buffers. */
export interface BatchRow {
  id: string;
  batchKey: Buffer;
  /** Null for a range batch until anchoring has read its leaves. */
  leafCount: number | null;
  txHash: Buffer | null;
  sentAt: string | null;
  anchoredAt: string | null;
  /** The range of a range batch; null for a batch cut before migration 005. */
  firstSeq: string | null;
  lastSeq: string | null;
}

/** The key writers hold (shared) from their outbox insert to COMMIT; see migration 005. */
const OUTBOX_WRITER_LOCK = 724_311_005;
/** Serialises relays claiming ranges, so ranges never overlap. */
const CLAIM_LOCK = 724_311_006;

/**
 * The highest outbox seq below which every row is final (committed or rolled back), so a
 * range up to it can be claimed and will never gain a row. Reads the sequence, then waits for
 * the transactions that were between their outbox insert and COMMIT at that moment (they hold
 * the writer lock; new ones take seqs above). Undefined when they did not end within `waitMs`.
 */
export async function outboxHorizon(pool: pg.Pool, waitMs: number): Promise<bigint | undefined> {
  const { rows } = await pool.query<{ last: string }>(
    'SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS last FROM anchor_outbox_seq_seq',
  );
  const last = BigInt(rows[0]!.last);
  // Transactions holding the writer lock; with $1, only those among $1 still holding it.
  const holders = `SELECT array_agg(virtualtransaction) AS v FROM pg_locks
     WHERE locktype = 'advisory' AND classid = 0 AND objid = ${OUTBOX_WRITER_LOCK} AND objsubid = 1
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND ($1::text[] IS NULL OR virtualtransaction = ANY($1::text[]))`;
  const inFlight = (await pool.query<{ v: string[] | null }>(holders, [null])).rows[0]!.v;
  if (!inFlight) return last;
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { rows: still } = await pool.query<{ v: string[] | null }>(holders, [inFlight]);
    if (!still[0]!.v) return last;
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Claims up to `maxBatches` batches, each the seq range of at most `size` positions from the
 * first unclaimed row after the last range, up to `horizon`: one INSERT per batch that reads
 * one index entry, nothing written to or counted in the outbox. Returns the batch ids.
 */
export async function claimRanges(
  pool: pg.Pool,
  horizon: bigint,
  size: number,
  maxBatches: number,
): Promise<string[]> {
  const client = await pool.connect();
  const claimed: string[] = [];
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [CLAIM_LOCK]);
    const { rows } = await client.query<{ last: string }>(
      'SELECT coalesce(max(last_seq), 0) AS last FROM anchor_batch',
    );
    let after = BigInt(rows[0]!.last);
    while (claimed.length < maxBatches && after < horizon) {
      const { rows: batch } = await client.query<{ id: string; last_seq: string }>({
        name: 'anchor-claim-range',
        text: `INSERT INTO anchor_batch (batch_key, first_seq, last_seq)
               SELECT $4, f, least(f + $3 - 1, $2)
                 FROM (SELECT min(seq) AS f FROM anchor_outbox
                        WHERE seq > $1 AND seq <= $2 AND batch_id IS NULL) first
                WHERE f IS NOT NULL
               RETURNING id, last_seq`,
        values: [after.toString(), horizon.toString(), size, randomBytes(32)],
      });
      const row = batch[0];
      if (!row) break;
      claimed.push(row.id);
      after = BigInt(row.last_seq);
    }
    await client.query('COMMIT');
    return claimed;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
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
    `SELECT id, batch_key, leaf_count, tx_hash, sent_at, anchored_at, first_seq, last_seq
       FROM anchor_batch WHERE id = $1`,
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
      firstSeq: row.first_seq,
      lastSeq: row.last_seq,
    }
  );
}

/**
 * The batch's leaves: its seq range's unclaimed rows, or (legacy) the rows naming it. Read as
 * one concatenated bytea: a batch holds tens of thousands of leaves, and one buffer cut into
 * 32-byte views costs far less than a row object per leaf.
 */
export async function loadLeaves(pool: pg.Pool, batch: BatchRow): Promise<Uint8Array[]> {
  const { rows } = await pool.query<{ leaves: Buffer | null }>(
    batch.firstSeq !== null
      ? {
          name: 'anchor-range-leaves',
          text: `SELECT string_agg(leaf, ''::bytea) AS leaves FROM anchor_outbox
                  WHERE seq BETWEEN $1 AND $2 AND batch_id IS NULL`,
          values: [batch.firstSeq, batch.lastSeq],
        }
      : {
          text: `SELECT string_agg(leaf, ''::bytea) AS leaves FROM anchor_outbox WHERE batch_id = $1`,
          values: [batch.id],
        },
  );
  const all = rows[0]?.leaves;
  if (!all) return [];
  const leaves: Uint8Array[] = [];
  for (let i = 0; i < all.byteLength; i += 32) leaves.push(all.subarray(i, i + 32));
  return leaves;
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
  leafCount: number;
  nodes: Uint8Array;
  txHash: Uint8Array;
  blockNumber: bigint;
}

/** Stores root, leaf count, transaction, block and the tree (every leaf's proof); marks the batch anchored. */
export async function recordAnchored(pool: pg.Pool, id: string, a: AnchoredBatch): Promise<void> {
  await pool.query(
    `UPDATE anchor_batch
        SET root = $2, tree = $3, tx_hash = $4, block_number = $5, anchored_at = now(),
            leaf_count = $6, last_error = NULL, unrecoverable_at = NULL
      WHERE id = $1`,
    [
      id,
      Buffer.from(a.root),
      Buffer.from(a.nodes),
      Buffer.from(a.txHash),
      a.blockNumber.toString(),
      a.leafCount,
    ],
  );
}

/** Keeps the last error; an unrecoverable one also marks the batch for the metrics. */
export async function recordError(
  pool: pg.Pool,
  id: string,
  message: string,
  unrecoverable: boolean,
): Promise<void> {
  await pool.query(
    `UPDATE anchor_batch
        SET last_error = $2, unrecoverable_at = CASE WHEN $3 THEN now() END
      WHERE id = $1`,
    [id, message.slice(0, 2000), unrecoverable],
  );
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
  // A range batch is the one with the smallest last_seq at or above the row's seq, if its
  // range starts at or below it; a legacy batch is named by the row.
  const { rows } = await pool.query(
    `SELECT o.content_hash, o.leaf, b.batch_key, b.root, b.tree, b.tx_hash, b.block_number,
            b.anchored_at
       FROM anchor_outbox o
       LEFT JOIN LATERAL (
         SELECT * FROM anchor_batch WHERE id = o.batch_id
         UNION ALL
         SELECT * FROM (
           SELECT * FROM anchor_batch
            WHERE o.batch_id IS NULL AND last_seq >= o.seq ORDER BY last_seq LIMIT 1
         ) r WHERE r.first_seq <= o.seq
       ) b ON true
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

export interface AnchoringCounts {
  /** Versions written and not yet in a batch. */
  unbatchedVersions: number;
  /** Batches waiting to be anchored. */
  openBatches: number;
  /** Open batches whose last attempt failed; of them, those that cannot succeed unaided. */
  failingBatches: number;
  unrecoverableBatches: number;
  anchoredBatches: number;
  anchoredVersions: number;
  lastAnchoredAt: string | null;
}

/** The anchoring's state for operators (`$ledger`): what waits, what fails, what is done. */
export async function anchoringCounts(pool: pg.Pool): Promise<AnchoringCounts> {
  const { rows } = await pool.query(
    `SELECT (SELECT count(*) FROM anchor_outbox
              WHERE batch_id IS NULL
                AND seq > (SELECT coalesce(max(last_seq), 0) FROM anchor_batch))::int AS unbatched,
            count(*) FILTER (WHERE anchored_at IS NULL)::int AS open_batches,
            count(*) FILTER (WHERE anchored_at IS NULL AND last_error IS NOT NULL)::int AS failing,
            count(*) FILTER (WHERE anchored_at IS NULL AND unrecoverable_at IS NOT NULL)::int
              AS unrecoverable,
            count(*) FILTER (WHERE anchored_at IS NOT NULL)::int AS anchored_batches,
            coalesce(sum(leaf_count) FILTER (WHERE anchored_at IS NOT NULL), 0)::bigint
              AS anchored_versions,
            max(anchored_at) AS last_anchored_at
       FROM anchor_batch`,
  );
  const r = rows[0];
  return {
    unbatchedVersions: r.unbatched,
    openBatches: r.open_batches,
    failingBatches: r.failing,
    unrecoverableBatches: r.unrecoverable,
    anchoredBatches: r.anchored_batches,
    anchoredVersions: Number(r.anchored_versions),
    lastAnchoredAt: r.last_anchored_at,
  };
}
