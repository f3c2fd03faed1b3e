import type { Scope } from './scopes.js';

/**
 * Who is calling, established once per request from a verified access token and
 * placed in `RequestContext.principal`. Consent decides on this; provenance names it.
 */
export interface Principal {
  /** Issuer of the access token: this server's FHIR base or a configured external issuer. */
  issuer: string;
  /** Token subject: the client id for backend services, the user for external issuers. */
  subject: string;
  clientId: string;
  /** Resource scopes that grant access (SMART v1 and v2, parsed). */
  scopes: Scope[];
  /** Every scope string the token carried, resource scopes or not (openid, launch, ...). */
  scopeText: string;
  /** The user or system the client acts for, e.g. `Practitioner/123`. */
  fhirUser?: string;
  /** Patient launch context: `patient/` scopes are limited to this patient's compartment. */
  patient?: string;
  /** `purpose_of_use` claim codes, e.g. TREAT. */
  purposeOfUse: string[];
  /** Token id, for audit. */
  tokenId?: string;
}

/** Narrows the untyped context slot to a Principal. */
export function isPrincipal(value: unknown): value is Principal {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as Principal).scopes) &&
    typeof (value as Principal).subject === 'string'
  );
}
