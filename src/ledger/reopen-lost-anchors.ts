import type pg from 'pg';
import type { Address, Client } from 'viem';
import { readContract } from 'viem/actions';
import { toHex } from '../provenance/content-hash.js';
import { provenanceAnchorAbi } from './abi/provenance-anchor.js';

/** Batches checked per query; a chain loses few blocks, so one page is the usual case. */
const PAGE = 50;

/**
 * Reopens the batches PostgreSQL counts as anchored whose root the chain no longer holds, so
 * the relay dispatches them again: the embedded chain keeps only what it dumped before a crash
 * (every few seconds), and a reorganisation can drop blocks too. Chains lose their newest
 * blocks, so batches are checked from the highest block down until a root is still there.
 * Returns the ids of the batches reopened.
 *
 * @example
 * const reopened = await reopenLostAnchors(pool, client, provenanceAnchor);
 */
export async function reopenLostAnchors(
  pool: pg.Pool,
  client: Client,
  provenanceAnchor: Address,
): Promise<string[]> {
  const lost: string[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const { rows } = await pool.query<{ id: string; root: Buffer }>(
      `SELECT id, root FROM anchor_batch WHERE anchored_at IS NOT NULL
        ORDER BY block_number DESC, id DESC LIMIT $1 OFFSET $2`,
      [PAGE, offset],
    );
    let kept = false;
    for (const { id, root } of rows) {
      const anchor = await readContract(client, {
        address: provenanceAnchor,
        abi: provenanceAnchorAbi,
        functionName: 'getAnchor',
        args: [toHex(root)],
      });
      if (anchor.anchoredAt !== 0n) {
        kept = true;
        break;
      }
      lost.push(id);
    }
    if (kept || rows.length < PAGE) break;
  }
  if (lost.length > 0) {
    await pool.query(
      `UPDATE anchor_batch
          SET anchored_at = NULL, root = NULL, tree = NULL, tx_hash = NULL, block_number = NULL,
              sent_at = NULL, enqueued_at = NULL,
              last_error = 'the chain no longer holds this root; anchoring again'
        WHERE id = ANY($1::bigint[])`,
      [lost],
    );
  }
  return lost;
}
