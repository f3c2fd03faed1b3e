import type { Consent } from 'fhir/r4.js';
import type { RequestContext } from '../../fhir/hooks.js';
import type { ConsentContext } from '../start-consent.js';
import { startChainConsents } from './chain-consents.js';
import { recordConsentVersion } from './record-consent-version.js';
import type { ConsentChain } from './send-consent-transaction.js';
import { signingRequest } from './signing-request.js';

export interface ConsentLifecycle {
  /** Runs one round of materialising chain-made grants now (tests). */
  reconcile(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * FHIR Consent <-> grants on the ConsentRegistry: every Consent version written (REST create,
 * update, delete, transaction entries) is authorised and put on chain inside its database
 * transaction (record-consent-version.ts), and grants made on chain without a Consent become
 * Consent resources (chain-consents.ts). See README.md in this folder.
 */
export function registerConsentLifecycle(context: ConsentContext): ConsentLifecycle {
  const chain: ConsentChain = {
    client: context.ledger.client,
    registry: context.ledger.consentRegistry,
  };
  const chainConsents = startChainConsents(context);
  context.services.consent = {
    signingRequest: (consent, deadline, ctx) =>
      signingRequest(context, consent as Consent, deadline, ctx),
  };
  const wroteOnChain = new WeakSet<RequestContext>();
  context.services.hooks.beforeCommit.push(async (tx, versions, ctx) => {
    if (chainConsents.isOwnWrite(ctx)) return;
    // A snapshot: Provenances appended by other listeners are not Consents.
    for (const version of versions.slice()) {
      if (
        version.resourceType === 'Consent' &&
        (await recordConsentVersion(context, chain, tx, version, ctx))
      ) {
        wroteOnChain.add(ctx);
      }
    }
  });
  // The mirror catches up before the response goes out: the next request (a read by the
  // grantee, or after a revocation) is decided on the new grants, not a poll interval later.
  context.services.hooks.afterCommit.push(async (_versions, ctx) => {
    if (wroteOnChain.has(ctx)) await context.mirror.sync();
  });
  return chainConsents;
}
