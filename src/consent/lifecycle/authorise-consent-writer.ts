import type { Consent, RelatedPerson } from 'fhir/r4.js';
import type { Principal } from '../../auth/principal.js';
import { FhirError, issue } from '../../fhir/errors.js';
import type { Tx } from '../../fhir/storage/database.js';
import { referenceKey } from '../consent-to-grant.js';
import type { ConsentContext } from '../start-consent.js';

/** The scope a custodian client (CONSENT_CUSTODIAN_CLIENTS) needs to record or revoke consents. */
export const CONSENT_CUSTODIAN_SCOPE = 'consent/custodian';
/** RelatedPerson.identifier system holding a delegate's Ethereum address (0x, 20 bytes). */
export const ETHEREUM_ADDRESS_SYSTEM = 'https://fhir-ledger.dev/sid/ethereum-address';

export type ConsentWriter = 'patient' | 'delegate' | 'custodian';

/**
 * Who may record or revoke the consents of `patient` ("Patient/<id>"):
 * - the patient: a patient-context token for that patient whose user (fhirUser), if named,
 *   is that Patient;
 * - a delegate: a user whose fhirUser is a RelatedPerson of that patient carrying an
 *   ETHEREUM_ADDRESS_SYSTEM identifier that the patient's bound account registered as
 *   delegate on the ConsentRegistry (`setDelegate`, as the mirror saw it);
 * - a custodian: a client listed in CONSENT_CUSTODIAN_CLIENTS holding CONSENT_CUSTODIAN_SCOPE.
 * Anyone else is refused with 403. Without a patient (a draft naming none) only a custodian.
 */
export async function authoriseConsentWriter(
  context: ConsentContext,
  tx: Tx,
  principal: Principal | undefined,
  patient: string | undefined,
): Promise<ConsentWriter> {
  if (!principal) throw forbidden('recording a consent needs an authenticated caller');
  const patientId = patient?.slice('Patient/'.length);
  if (
    patient !== undefined &&
    principal.patient === patientId &&
    (principal.fhirUser === undefined || normalise(principal.fhirUser) === patient)
  ) {
    return 'patient';
  }
  const user = principal.fhirUser ? normalise(principal.fhirUser) : undefined;
  if (
    patient !== undefined &&
    user?.startsWith('RelatedPerson/') &&
    (await isDelegate(context, tx, user, patient))
  ) {
    return 'delegate';
  }
  if (
    context.config.custodianClients.includes(principal.clientId) &&
    principal.scopeText.split(/\s+/).includes(CONSENT_CUSTODIAN_SCOPE)
  ) {
    return 'custodian';
  }
  throw forbidden(
    'only the patient, a delegate the patient registered, or a custodian client with the consent/custodian scope may record or revoke this consent',
  );
}

/** A grantee never records a consent for itself, whatever else it is (except the patient). */
export function refuseGrantee(principal: Principal | undefined, consent: Consent): void {
  const user = principal?.fhirUser ? normalise(principal.fhirUser) : undefined;
  if (!user) return;
  const actors: string[] = [];
  const walk = (p: Consent['provision']) => {
    if (!p) return;
    if (p.type !== 'deny') for (const a of p.actor ?? []) actors.push(a.reference?.reference ?? '');
    for (const child of p.provision ?? []) walk(child);
  };
  walk(consent.provision);
  if (actors.includes(user)) {
    throw forbidden(`${user.split('/')[0]} is a grantee of this consent and cannot record it`);
  }
}

async function isDelegate(
  context: ConsentContext,
  tx: Tx,
  relatedPerson: string,
  patient: string,
): Promise<boolean> {
  const { rows } = await tx.query<{ content: RelatedPerson }>(
    `SELECT content FROM resource_current
      WHERE resource_type = 'RelatedPerson' AND id = $1 AND NOT deleted`,
    [relatedPerson.slice('RelatedPerson/'.length)],
  );
  const person = rows[0]?.content;
  if (!person || person.patient?.reference !== patient) return false;
  const addresses = (person.identifier ?? [])
    .filter(
      (i) => i.system === ETHEREUM_ADDRESS_SYSTEM && /^0x[0-9a-fA-F]{40}$/.test(i.value ?? ''),
    )
    .map((i) => Buffer.from((i.value as string).slice(2), 'hex'));
  if (addresses.length === 0) return false;
  const found = await tx.query(
    `SELECT 1 FROM consent_delegate
      WHERE registry = $1 AND patient = $2 AND delegate = ANY($3::bytea[])`,
    [
      Buffer.from(context.ledger.consentRegistry.slice(2), 'hex'),
      Buffer.from(referenceKey(context.salt, patient).slice(2), 'hex'),
      addresses,
    ],
  );
  return (found.rowCount ?? 0) > 0;
}

/** fhirUser may be absolute (https://ehr/fhir/Practitioner/1); grants key the relative form. */
function normalise(reference: string): string {
  const m = /([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(reference);
  return m ? (m[1] as string) : reference;
}

function forbidden(message: string): FhirError {
  return new FhirError(403, [issue('forbidden', message)]);
}
