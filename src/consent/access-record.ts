import type { Hex } from 'viem';
import type { Operation, RequestContext } from '../fhir/hooks.js';

/** Why a decision came out the way it did; named in the AuditEvent. */
export type DecisionBasis =
  /** The caller is the patient (patient-context token). */
  | 'own-record'
  /** An active permit grant on chain, and no applicable deny. */
  | 'grant'
  /** A custodian client named in CONSENT_CUSTODIAN_CLIENTS: permitted by policy. */
  | 'custodian'
  /** Break-the-glass scope with an emergency purpose: permitted and flagged. */
  | 'break-the-glass'
  /** No applicable grant: the base policy denies. */
  | 'no-grant'
  /** An applicable deny grant. */
  | 'deny-grant'
  /** Consent state could not be confirmed from the chain (stale mirror, chain unreachable). */
  | 'unavailable';

/** Recorded for a resource that points at someone only by identifier: no patient to name. */
export const UNIDENTIFIED_PATIENT = 'Patient/?';

/** One access decision for one patient compartment and resource class. */
export interface AccessDecision {
  /** `Patient/<id>`: kept in the AuditEvent (our database), never on chain, in queues or logs. */
  patient: string;
  resourceType: string;
  permitted: boolean;
  basis: DecisionBasis;
  /** Ids of the grants that decided (the deny, or the permits); empty for policy decisions. */
  grants: Hex[];
  /** The mirrored chain block the decision was made at (-1 when unknown). */
  block: bigint;
  /** How many resources this decision covered in the request. */
  count: number;
}

/**
 * What consent enforcement learned during one request, for the audit: filled by the
 * enforcement hooks, read by the audit's `afterRequest` listener. Kept beside the request
 * context, not in it, so that the core knows nothing of consent.
 */
export interface AccessRecord {
  /** Every operation the request ran (one per batch or transaction entry). */
  operations: Operation[];
  /** Keyed by `patient|resourceType|basis`: a search over 500 observations of one patient is one entry. */
  decisions: Map<string, AccessDecision>;
  /** Versioned references (`Type/id/_history/vid`) of the resources returned. */
  returned: string[];
  /**
   * The patients (`Patient/<id>`) each version was decided for, by versioned reference: the
   * audit files what was returned under these, so a Provenance is listed with its targets'
   * patients, as enforcement judged it. A version missing here is nobody's data.
   */
  patientsOf: Map<string, string[]>;
}

// On the request context under a symbol the core never sees (not in a WeakMap by context:
// its entries cost every young-generation GC a walk).
const RECORD = Symbol('access record');
type WithRecord = RequestContext & { [RECORD]?: AccessRecord };

/** The request's record, created on first use. */
export function accessRecord(ctx: RequestContext): AccessRecord {
  let record = (ctx as WithRecord)[RECORD];
  if (!record) {
    record = { operations: [], decisions: new Map(), returned: [], patientsOf: new Map() };
    (ctx as WithRecord)[RECORD] = record;
  }
  return record;
}

/** The request's record if enforcement touched it. */
export function peekAccessRecord(ctx: RequestContext): AccessRecord | undefined {
  return (ctx as WithRecord)[RECORD];
}

/** The key of a decision in `AccessRecord.decisions`. */
export function decisionRecordKey(decision: Omit<AccessDecision, 'count'>): string {
  return `${decision.patient}|${decision.resourceType}|${decision.basis}`;
}

/**
 * Adds one decision (counting repeats of the same patient, type and basis); `key` is its
 * `decisionRecordKey`, when the caller has it already.
 */
export function recordDecision(
  ctx: RequestContext,
  decision: Omit<AccessDecision, 'count'>,
  key = decisionRecordKey(decision),
): void {
  const { decisions } = accessRecord(ctx);
  const seen = decisions.get(key);
  if (seen) seen.count++;
  else {
    // Field by field, not a spread: one object shape, built without V8's slow clone path.
    decisions.set(key, {
      patient: decision.patient,
      resourceType: decision.resourceType,
      permitted: decision.permitted,
      basis: decision.basis,
      grants: decision.grants,
      block: decision.block,
      count: 1,
    });
  }
}
