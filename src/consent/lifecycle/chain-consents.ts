import { randomUUID } from 'node:crypto';
import type { Consent } from 'fhir/r4.js';
import type { Hex } from 'viem';
import type { Principal } from '../../auth/principal.js';
import { parseScope } from '../../auth/scopes.js';
import type { RequestContext } from '../../fhir/hooks.js';
import { type GrantRow, grantTermsFromRow } from '../chain-mirror.js';
import { SERVER_ISSUER } from '../enforcement/consent-caller.js';
import type { ConsentContext } from '../start-consent.js';
import { bytes, lockConsentVersion, Origin, replaceLinks } from './consent-links.js';
import { grantToConsent } from './grant-to-consent.js';
import { ReferenceKeys } from './reference-keys.js';

/** Who writes materialised Consents (named in their Provenance). */
const MATERIALISER_SCOPE = 'system/Consent.cu';
const MATERIALISER: Principal = {
  issuer: SERVER_ISSUER,
  subject: 'consent-chain-mirror',
  clientId: 'consent-chain-mirror',
  scopes: [parseScope(MATERIALISER_SCOPE, (type) => type === 'Consent')!],
  scopeText: MATERIALISER_SCOPE,
  purposeOfUse: [],
};

export interface ChainConsents {
  /** Whether a write comes from here (the lifecycle hook leaves those alone). */
  isOwnWrite(ctx: RequestContext): boolean;
  /** One reconciliation round now (also run after every mirror round that applied logs). */
  reconcile(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Keeps Consent resources in step with grants nobody recorded over REST: a grant made
 * directly on chain (a patient's wallet), or an orphan of a REST write whose chain
 * transaction was mined but whose database commit failed, becomes a Consent tagged
 * CHAIN_ORIGIN_TAG; a Consent whose grants were all revoked on chain becomes inactive.
 * Driven by the mirror's tables, so it catches up after a restart or a rebuild; runs once
 * at a time per process, and processes sharing a database agree through row and advisory
 * locks.
 */
export function startChainConsents(context: ConsentContext): ChainConsents {
  const { services, ledger, logger } = context;
  const registry = bytes(ledger.consentRegistry);
  const keys = new ReferenceKeys(context.salt);
  const own = new WeakSet<RequestContext>();
  const newCtx = (): RequestContext => {
    const ctx = { requestId: `consent-chain-${randomUUID()}`, principal: MATERIALISER };
    own.add(ctx);
    return ctx;
  };
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  const materialise = async (grantId: Buffer) => {
    await services.store.transaction(newCtx(), async (writer) => {
      const { rows } = await writer.tx.query<GrantRow>(
        `SELECT g.* FROM consent_grant g
          WHERE g.registry = $1 AND g.grant_id = $2 AND g.status = 1`,
        [registry, grantId],
      );
      const row = rows[0];
      if (!row) return;
      await lockConsentVersion(writer.tx, hex(row.consent_version));
      // After the lock a REST write of this grant has committed (linked) or rolled back.
      const linked = await writer.tx.query(
        'SELECT 1 FROM consent_link WHERE registry = $1 AND grant_id = $2',
        [registry, grantId],
      );
      if (linked.rowCount) return;
      const terms = grantTermsFromRow(row);
      const patient = await keys.patient(writer.tx, terms.patient);
      if (!patient) return; // retried on the next round: the Patient may not be stored yet
      const actor = await keys.actor(writer.tx, terms.actor);
      const id = randomUUID();
      await writer.write({
        resourceType: 'Consent',
        id,
        method: 'POST',
        freshId: true,
        resource: { ...grantToConsent(hex(grantId), terms, patient, actor), id },
      });
      await replaceLinks(writer.tx, ledger.consentRegistry, id, [hex(grantId)], Origin.Chain);
    });
  };

  const deactivate = async (consentId: string) => {
    await services.store.transaction(newCtx(), async (writer) => {
      const current = await writer.lockCurrent('Consent', consentId);
      const consent = current?.resource as Consent | undefined;
      if (consent?.status !== 'active') return;
      const { rows } = await writer.tx.query<{ revoked: boolean }>(
        `SELECT bool_and(g.status = 2) AS revoked FROM consent_link l
           JOIN consent_grant g ON g.registry = l.registry AND g.grant_id = l.grant_id
          WHERE l.registry = $1 AND l.consent_id = $2`,
        [registry, consentId],
      );
      if (!rows[0]?.revoked) return;
      await writer.write({
        resourceType: 'Consent',
        id: consentId,
        method: 'PUT',
        resource: { ...consent, status: 'inactive' } as Consent,
      });
    });
  };

  const round = async () => {
    const unlinked = await services.db.pool.query<{ grant_id: Buffer }>(
      `SELECT g.grant_id FROM consent_grant g
        WHERE g.registry = $1 AND g.status = 1
          AND NOT EXISTS (SELECT 1 FROM consent_link l
                           WHERE l.registry = g.registry AND l.grant_id = g.grant_id)`,
      [registry],
    );
    for (const { grant_id } of unlinked.rows) await materialise(grant_id);
    const revoked = await services.db.pool.query<{ consent_id: string }>(
      `SELECT l.consent_id FROM consent_link l
         JOIN consent_grant g ON g.registry = l.registry AND g.grant_id = l.grant_id
         JOIN resource_current c ON c.resource_type = 'Consent' AND c.id = l.consent_id
        WHERE l.registry = $1 AND NOT c.deleted AND c.content->>'status' = 'active'
        GROUP BY l.consent_id HAVING bool_and(g.status = 2)`,
      [registry],
    );
    for (const { consent_id } of revoked.rows) await deactivate(consent_id);
  };

  const reconcile = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await round();
        } catch (err) {
          // Left for the next round; ids stay out of the log (no raw FHIR ids in logs).
          logger.warn({ err: (err as Error).message }, 'materialising chain consents failed');
        }
      } while (again && !stopped);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  const unsubscribe = context.mirror.onLogs(() => void reconcile());
  void reconcile();
  return {
    isOwnWrite: (ctx) => own.has(ctx),
    reconcile,
    async stop() {
      stopped = true;
      unsubscribe();
      await running;
    },
  };
}

function hex(value: Buffer): Hex {
  return `0x${value.toString('hex')}`;
}
