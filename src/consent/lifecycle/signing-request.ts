import type { Consent, Parameters, ParametersParameter } from 'fhir/r4.js';
import { badRequest } from '../../fhir/errors.js';
import type { RequestContext } from '../../fhir/hooks.js';
import { consentRegistryAbi } from '../../ledger/abi/consent-registry.js';
import { grantTypedData } from '../../ledger/consent-typed-data.js';
import { consentToGrants } from '../consent-to-grant.js';
import type { ConsentContext } from '../start-consent.js';
import { authoriseConsentWriter, refuseGrantee } from './authorise-consent-writer.js';
import { unavailable } from './send-consent-transaction.js';

const DEFAULT_VALIDITY_SECONDS = 3600;

/**
 * The EIP-712 messages that make `consent`, written as its next version, patient-signed: one
 * per grant, in order, with consecutive nonces from the patient key's current nonce. The
 * caller must be allowed to record the patient's consent; nothing is stored. Wallets that
 * grant on chain themselves also learn here the keys their grants must use (the chain holds
 * only salted keys, the salt never leaves the server).
 */
export async function signingRequest(
  context: ConsentContext,
  consent: Consent,
  deadlineText: string | undefined,
  ctx: RequestContext,
): Promise<Parameters> {
  if (!consent.id)
    throw badRequest('the Consent needs its id: it will be written with PUT', 'Consent.id');
  const patient = consent.patient?.reference;
  const deadline = deadlineText
    ? Date.parse(deadlineText) / 1000
    : Math.floor(Date.now() / 1000) + DEFAULT_VALIDITY_SECONDS;
  if (!Number.isInteger(deadline))
    throw badRequest('deadline must be an instant in whole seconds', 'deadline');
  const { services, ledger } = context;
  const current = await services.store.current('Consent', consent.id);
  const versionId = (current?.versionId ?? 0) + 1;
  const consentVersion = `Consent/${consent.id}/_history/${versionId}`;
  // Authorised like the write itself, so keys are only given to who may use them.
  const role = await services.db.transaction((tx) =>
    authoriseConsentWriter(context, tx, ctx.principal, patient),
  );
  refuseGrantee(role === 'patient' ? undefined : ctx.principal, consent);
  const { grants, patientKey } = consentToGrants(
    { ...consent, status: 'active' },
    { salt: context.salt, consentVersion },
  );
  const nonce = await ledger.client
    .readContract({
      address: ledger.consentRegistry,
      abi: consentRegistryAbi,
      functionName: 'nonces',
      args: [patientKey],
    })
    .catch((err: unknown) => {
      throw unavailable(err);
    });
  const domain = { chainId: ledger.chainId, verifyingContract: ledger.consentRegistry };
  const parts: ParametersParameter[] = grants.map((grant, i) => ({
    name: 'grant',
    part: [
      { name: 'grantId', valueString: grant.grantId },
      { name: 'expression', valueString: grant.expression },
      {
        name: 'typedData',
        valueString: JSON.stringify(
          grantTypedData(domain, {
            grantId: grant.grantId,
            terms: grant.terms,
            nonce: nonce + BigInt(i),
            deadline: BigInt(deadline),
          }),
          (_, value) => (typeof value === 'bigint' ? value.toString() : value),
        ),
      },
    ],
  }));
  return {
    resourceType: 'Parameters',
    parameter: [
      // Write the signed Consent with If-Match on this version's predecessor.
      { name: 'versionId', valueInteger: versionId },
      { name: 'patientKey', valueString: patientKey },
      {
        name: 'deadline',
        valueInstant: new Date(deadline * 1000).toISOString().replace('.000Z', 'Z'),
      },
      ...parts,
    ],
  };
}
