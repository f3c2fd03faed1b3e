import type { Consent } from 'fhir/r4.js';
import { type Hex, recoverTypedDataAddress, zeroAddress } from 'viem';
import { FhirError, issue } from '../../fhir/errors.js';
import type { RequestContext, StoredVersion } from '../../fhir/hooks.js';
import type { Tx } from '../../fhir/storage/database.js';
import { consentRegistryAbi } from '../../ledger/abi/consent-registry.js';
import { commitment } from '../../ledger/consent-encoding.js';
import { grantTypedData } from '../../ledger/consent-typed-data.js';
import { consentToGrants, type GrantSpec } from '../consent-to-grant.js';
import type { ConsentContext } from '../start-consent.js';
import { authoriseConsentWriter, refuseGrantee } from './authorise-consent-writer.js';
import { linkedGrants, lockConsentVersion, Origin, replaceLinks } from './consent-links.js';
import { GRANT_SIGNATURE_URL, type GrantSignature, grantSignatures } from './grant-signature.js';
import {
  type ConsentChain,
  sendConsentTransaction,
  unavailable,
} from './send-consent-transaction.js';

const ACTIVE = 1;

/**
 * Inside the write transaction of a Consent version (create, update, delete, transaction
 * entry): authorises the caller for every patient involved, translates an active Consent into
 * grants (422 naming what is not supported), revokes the grants of the version it replaces and
 * writes the new ones (or relays the patient's signatures), each mined before this returns,
 * so the transaction only commits a Consent whose grants are on chain. Any failure throws and
 * the transaction rolls back (503 when the chain is unreachable). Returns whether it wrote on
 * chain.
 */
export async function recordConsentVersion(
  context: ConsentContext,
  chain: ConsentChain,
  tx: Tx,
  version: StoredVersion,
  ctx: RequestContext,
): Promise<boolean> {
  const next = version.resource as Consent | undefined;
  const previous = await previousContent(tx, version);
  const patients = new Set(
    [previous?.patient?.reference, next?.patient?.reference].filter(
      (p): p is string => typeof p === 'string' && /^Patient\/[A-Za-z0-9\-.]{1,64}$/.test(p),
    ),
  );
  const roles = [];
  for (const patient of patients) {
    roles.push(await authoriseConsentWriter(context, tx, ctx.principal, patient));
  }
  if (patients.size === 0 && next?.status !== 'active') {
    // A draft without a patient binds no one; still, only a custodian records it.
    roles.push(await authoriseConsentWriter(context, tx, ctx.principal, undefined));
  }
  if (next) refuseGrantee(roles.includes('patient') ? undefined : ctx.principal, next);

  const consentVersion = `Consent/${version.id}/_history/${version.versionId}`;
  let grants: GrantSpec[] = [];
  let signatures: GrantSignature[] | undefined;
  if (next?.status === 'active') {
    ({ grants } = consentToGrants(next, { salt: context.salt, consentVersion }));
    signatures = grantSignatures(next);
    if (signatures && signatures.length !== grants.length) {
      throw new FhirError(422, [
        issue(
          'invalid',
          `the Consent translates to ${grants.length} grant(s) but carries ${signatures.length} signature(s)`,
          'Consent.extension',
        ),
      ]);
    }
  }
  const registry = context.ledger.consentRegistry;
  const revoke: Hex[] = [];
  for (const grantId of await linkedGrants(tx, registry, version.id)) {
    const { status } = await context.ledger.client
      .readContract({
        address: registry,
        abi: consentRegistryAbi,
        functionName: 'getGrant',
        args: [grantId],
      })
      .catch((err: unknown) => {
        throw unavailable(err);
      });
    if (status === ACTIVE) revoke.push(grantId);
  }
  if (!context.config.custodianGrants && (revoke.length > 0 || (grants.length && !signatures))) {
    throw new FhirError(403, [
      issue(
        'forbidden',
        revoke.length > 0
          ? 'this deployment does not write grants for patients (CONSENT_CUSTODIAN_GRANTS=false): revoke on chain with the patient wallet (revoke or revokeWithSig)'
          : `this deployment does not write grants for patients (CONSENT_CUSTODIAN_GRANTS=false): the Consent must carry the patient's signatures (extension ${GRANT_SIGNATURE_URL})`,
      ),
    ]);
  }
  if (revoke.length === 0 && grants.length === 0) return false;

  await lockConsentVersion(tx, commitment(context.salt, consentVersion));
  // Revocations first: if a later step fails, the patient is left with less access, not more.
  for (const grantId of revoke) await sendConsentTransaction(chain, tx, 'revoke', [grantId]);
  if (signatures) {
    if (roles.includes('patient'))
      await bindOnFirstUse(context, chain, tx, grants[0], signatures[0]);
    for (const [i, grant] of grants.entries()) {
      const { signature, deadline } = signatures[i] as GrantSignature;
      await sendConsentTransaction(
        chain,
        tx,
        'grantWithSig',
        [grant.grantId, grant.terms, deadline, signature],
        true,
      );
    }
  } else {
    for (const grant of grants) {
      await sendConsentTransaction(chain, tx, 'grant', [grant.grantId, grant.terms]);
    }
  }
  await replaceLinks(
    tx,
    registry,
    version.id,
    grants.map((g) => g.grantId),
    Origin.Rest,
  );
  return true;
}

/** The version this one replaces, when it was not a deletion. */
async function previousContent(tx: Tx, version: StoredVersion): Promise<Consent | undefined> {
  if (version.versionId <= 1) return undefined;
  const { rows } = await tx.query<{ content: Consent | null }>(
    `SELECT content FROM resource_version
      WHERE resource_type = 'Consent' AND id = $1 AND version_id = $2`,
    [version.id, version.versionId - 1],
  );
  return rows[0]?.content ?? undefined;
}

/**
 * A patient submitting their own signed Consent, with no account bound yet to their patient
 * key, binds the account that signed it (trust on first use: the patient-context token says
 * who the patient is, the signature proves the key). Later changes of account go through the
 * contract's `transferPatientAccount`, signed by the bound account.
 */
async function bindOnFirstUse(
  context: ConsentContext,
  chain: ConsentChain,
  tx: Tx,
  grant: GrantSpec | undefined,
  signed: GrantSignature | undefined,
): Promise<void> {
  if (!grant || !signed) return;
  const registry = { address: context.ledger.consentRegistry, abi: consentRegistryAbi } as const;
  const args = [grant.terms.patient] as const;
  const client = context.ledger.client;
  const [account, nonce] = await Promise.all([
    client.readContract({ ...registry, functionName: 'patientAccount', args }),
    client.readContract({ ...registry, functionName: 'nonces', args }),
  ]).catch((err: unknown) => {
    throw unavailable(err);
  });
  if (account !== zeroAddress) return;
  const domain = {
    chainId: context.ledger.chainId,
    verifyingContract: context.ledger.consentRegistry,
  };
  let signer: Hex;
  try {
    signer = await recoverTypedDataAddress({
      ...grantTypedData(domain, {
        grantId: grant.grantId,
        terms: grant.terms,
        nonce,
        deadline: signed.deadline,
      }),
      signature: signed.signature,
    });
  } catch {
    throw new FhirError(422, [issue('invalid', 'the signature is malformed', 'Consent.extension')]);
  }
  await sendConsentTransaction(chain, tx, 'bindPatientAccount', [grant.terms.patient, signer]);
}
