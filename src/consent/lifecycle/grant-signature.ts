import type { Consent, OperationOutcomeIssue } from 'fhir/r4.js';
import type { Hex } from 'viem';
import { issue, unprocessable } from '../../fhir/errors.js';

/**
 * The patient's EIP-712 signature of one grant, carried on the Consent (src/consent/lifecycle/
 * README.md): one extension per grant, in the order `consentToGrants` returns the grants, with
 * sub-extensions `signature` (valueString, 0x + 65 bytes r,s,v) and `deadline` (valueInstant,
 * the signed `deadline` as an instant).
 */
export const GRANT_SIGNATURE_URL =
  'https://fhir-ledger.dev/StructureDefinition/consent-grant-signature';

export interface GrantSignature {
  signature: Hex;
  /** Unix seconds, as signed. */
  deadline: bigint;
}

/** The signatures a Consent carries, or undefined when it carries none; 422 when malformed. */
export function grantSignatures(consent: Consent): GrantSignature[] | undefined {
  const problems: OperationOutcomeIssue[] = [];
  const out: GrantSignature[] = [];
  (consent.extension ?? []).forEach((ext, i) => {
    if (ext.url !== GRANT_SIGNATURE_URL) return;
    const at = `Consent.extension[${i}]`;
    const part = (url: string) => ext.extension?.find((e) => e.url === url);
    const signature = part('signature')?.valueString;
    const deadline = part('deadline')?.valueInstant;
    const seconds = deadline ? Date.parse(deadline) / 1000 : Number.NaN;
    if (!signature || !/^0x[0-9a-fA-F]{130}$/.test(signature)) {
      problems.push(issue('invalid', `${at}: signature must be 0x and 65 bytes in hex`, at));
    } else if (!Number.isInteger(seconds) || seconds <= 0) {
      problems.push(issue('invalid', `${at}: deadline must be an instant in whole seconds`, at));
    } else {
      out.push({ signature: signature as Hex, deadline: BigInt(seconds) });
    }
  });
  if (problems.length > 0) throw unprocessable(problems);
  return out.length > 0 ? out : undefined;
}
