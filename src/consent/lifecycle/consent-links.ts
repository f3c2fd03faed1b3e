import type { Hex } from 'viem';
import type { Tx } from '../../fhir/storage/database.js';

/** How a Consent came to stand for its grants (migration 006-consent-lifecycle). */
export const Origin = { Rest: 1, Chain: 2 } as const;

/** The grant ids the current version of a Consent stands for. */
export async function linkedGrants(tx: Tx, registry: Hex, consentId: string): Promise<Hex[]> {
  const { rows } = await tx.query<{ grant_id: Buffer }>(
    'SELECT grant_id FROM consent_link WHERE registry = $1 AND consent_id = $2',
    [bytes(registry), consentId],
  );
  return rows.map((r) => `0x${r.grant_id.toString('hex')}` as Hex);
}

/** Makes `grantIds` the grants a Consent stands for, in the transaction that stores it. */
export async function replaceLinks(
  tx: Tx,
  registry: Hex,
  consentId: string,
  grantIds: Hex[],
  origin: number,
): Promise<void> {
  await tx.query('DELETE FROM consent_link WHERE registry = $1 AND consent_id = $2', [
    bytes(registry),
    consentId,
  ]);
  if (grantIds.length === 0) return;
  await tx.query(
    `INSERT INTO consent_link (registry, grant_id, consent_id, origin)
     SELECT $1, g, $3, $4 FROM unnest($2::bytea[]) AS g`,
    [bytes(registry), grantIds.map(bytes), consentId, origin],
  );
}

/**
 * Holds, until the transaction ends, the lock on one Consent version's grants: taken before
 * they are sent, so the materialiser (chain-consents.ts), which takes it too, waits for the
 * commit or rollback before deciding whether a grant it sees on chain is an orphan.
 */
export async function lockConsentVersion(tx: Tx, versionKey: Hex): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [
    BigInt.asIntN(64, BigInt(versionKey.slice(0, 18))).toString(),
  ]);
}

export function bytes(value: Hex): Buffer {
  return Buffer.from(value.slice(2), 'hex');
}
