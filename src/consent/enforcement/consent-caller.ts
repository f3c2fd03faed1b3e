import type { Hex } from 'viem';
import type { AuthRegistry } from '../../auth/client-registry.js';
import type { Principal } from '../../auth/principal.js';
import { parseReference } from '../../fhir/search/references.js';
import { PURPOSES, purposeIndex } from '../../ledger/consent-encoding.js';

/** The scope that, with an emergency purpose of use, opens every record (flagged in the audit). */
export const BREAK_THE_GLASS_SCOPE = 'fhir-ledger/break-the-glass';
/** Purposes of use that count as an emergency for break-the-glass. */
export const EMERGENCY_PURPOSES = new Set(['ETREAT', 'BTG']);
/**
 * The issuer of a Principal the server builds for its own writes (AuditEvents, Consent status):
 * no token of ours carries it, and a configured external issuer of that name (a mistake) is
 * not trusted as the server. Consent treats it like a custodian.
 */
export const SERVER_ISSUER = 'urn:fhir-ledger:server';
/** The purpose assumed when the token names none. */
export const DEFAULT_PURPOSE = 'TREAT';

const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

/** Who the caller is for consent: computed once per request from its Principal. */
export interface ConsentCaller {
  /** A custodian client (CONSENT_CUSTODIAN_CLIENTS): permitted by policy. */
  custodian: boolean;
  /** Holds the break-the-glass scope and an emergency purpose: permitted and flagged. */
  breakTheGlass: boolean;
  /** Patient ids the caller is (patient context, or a `Patient/<id>` fhirUser): own records. */
  ownPatients: Set<string>;
  /** Salted keys of the caller's identities (fhirUser, the registered client's identity). */
  actorKeys: Hex[];
  /** Purpose bits of the request; undefined when a purpose is unknown (then nothing is granted). */
  purposes: number[] | undefined;
}

export interface ConsentCallerParameters {
  /** The salted key of a reference (`referenceKey` with this server's salt, memoised). */
  keyOf: (reference: string) => Hex;
  custodianClients: readonly string[];
  /** The auth registry as it is now: registered clients and external issuers. */
  registry: AuthRegistry;
}

/**
 * The consent view of a Principal. A token from a configured external issuer is that issuer's
 * word: its `client_id` is not one of our registered clients, so it can neither be a
 * custodian nor borrow a registered client's identity.
 */
export function consentCaller(
  principal: Principal,
  params: ConsentCallerParameters,
): ConsentCaller {
  const external = params.registry.issuers.some((i) => sameUrl(i.issuer, principal.issuer));
  const client = external
    ? undefined
    : params.registry.clients.find((c) => c.clientId === principal.clientId);
  const identities = new Set<string>();
  const user = principal.fhirUser && relativeReference(principal.fhirUser);
  if (user) identities.add(user);
  if (client?.fhirUser) identities.add(client.fhirUser);

  const ownPatients = new Set<string>();
  if (principal.patient) ownPatients.add(principal.patient);
  if (user?.startsWith('Patient/')) ownPatients.add(user.slice('Patient/'.length));

  const codes = principal.purposeOfUse.length > 0 ? principal.purposeOfUse : [DEFAULT_PURPOSE];
  const purposeCodes = codes.map(purposeCode);
  const known = purposeCodes.every((c): c is string => c !== undefined);
  const scopes = principal.scopeText.split(/\s+/);
  return {
    custodian:
      (!external && principal.issuer === SERVER_ISSUER) ||
      (client !== undefined && params.custodianClients.includes(client.clientId)),
    breakTheGlass:
      scopes.includes(BREAK_THE_GLASS_SCOPE) &&
      known &&
      purposeCodes.some((c) => EMERGENCY_PURPOSES.has(c)),
    ownPatients,
    actorKeys: [...identities].map(params.keyOf),
    purposes: known ? purposeCodes.map((c) => purposeIndex(c)) : undefined,
  };
}

/** `TREAT` or `http://terminology.hl7.org/CodeSystem/v3-ActReason|TREAT`; undefined if unknown. */
function purposeCode(value: string): string | undefined {
  const bar = value.lastIndexOf('|');
  if (bar >= 0 && value.slice(0, bar) !== ACT_REASON) return undefined;
  const code = bar >= 0 ? value.slice(bar + 1) : value;
  return (PURPOSES as readonly string[]).includes(code) ? code : undefined;
}

/** `https://ehr.example/fhir/Practitioner/7` -> `Practitioner/7`, the form grants are keyed by. */
function relativeReference(fhirUser: string): string | undefined {
  const parsed = parseReference(fhirUser);
  return parsed ? `${parsed.type}/${parsed.id}` : undefined;
}

const sameUrl = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
