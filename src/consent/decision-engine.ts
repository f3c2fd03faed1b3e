import type { Hex } from 'viem';
import { ANY_ACTOR, Decision, Effect } from '../ledger/consent-encoding.js';
import type { GrantTerms } from '../ledger/consent-typed-data.js';

/** What the engine needs from the mirrored chain state: the active grants of a pair. */
export interface ConsentState {
  /** Active (not revoked) grants of `patient` whose actor key is exactly `actor`, by grant id. */
  activeGrantEntries(patient: string, actor: string): Iterable<[Hex, GrantTerms]>;
}

export interface DecideParameters {
  patientKey: string;
  actorKey: string;
  /** Bit index in `classes` (0..255). */
  classBit: number;
  /** Bit index in `actions` (0 read, 1 write). */
  action: number;
  /** Bit index in `purposes`. */
  purpose: number;
  /** Unix seconds. */
  time: bigint;
}

export type DecideReturnType = (typeof Decision)[keyof typeof Decision];

export interface ExplainReturnType {
  decision: DecideReturnType;
  /** The grants that decided: the first applicable deny, or every applicable permit. */
  grants: Hex[];
}

/**
 * The ConsentRegistry's `decide` view computed over mirrored state, so every read does not
 * need an RPC call: the applicable grants are the active grants of the patient for the actor
 * or the wildcard actor, in force at `time` (validFrom <= time < validUntil, 0 = no end),
 * with the class, action and purpose bits set. Any applicable deny -> Deny, else any permit
 * -> Permit, else NotApplicable. The differential test holds it equal to the contract.
 *
 * @example
 * decide(mirror.state, { patientKey, actorKey, classBit: 95, action: 0, purpose: 0, time })
 */
export function decide(state: ConsentState, params: DecideParameters): DecideReturnType {
  return explain(state, params).decision;
}

/**
 * `decide`, plus the ids of the grants that decided it, for the audit. The pair's own deny
 * wins before the wildcard is looked at; otherwise an applicable wildcard grant decides.
 */
export function explain(state: ConsentState, params: DecideParameters): ExplainReturnType {
  const own = decidePair(state.activeGrantEntries(params.patientKey, params.actorKey), params);
  if (own.decision === Decision.Deny || params.actorKey === ANY_ACTOR) return own;
  const wildcard = decidePair(state.activeGrantEntries(params.patientKey, ANY_ACTOR), params);
  if (wildcard.decision === Decision.NotApplicable) return own;
  if (wildcard.decision === Decision.Permit && own.decision === Decision.Permit) {
    return { decision: Decision.Permit, grants: [...own.grants, ...wildcard.grants] };
  }
  return wildcard;
}

function decidePair(grants: Iterable<[Hex, GrantTerms]>, p: DecideParameters): ExplainReturnType {
  const permits: Hex[] = [];
  for (const [id, g] of grants) {
    if (p.time < g.validFrom || (g.validUntil !== 0n && p.time >= g.validUntil)) continue;
    if (!bit(g.classes, p.classBit)) continue;
    if (!bit(BigInt(g.actions), p.action)) continue;
    if (!bit(BigInt(g.purposes), p.purpose)) continue;
    if (g.effect === Effect.Deny) return { decision: Decision.Deny, grants: [id] };
    permits.push(id);
  }
  return {
    decision: permits.length > 0 ? Decision.Permit : Decision.NotApplicable,
    grants: permits,
  };
}

function bit(mask: bigint, index: number): boolean {
  return ((mask >> BigInt(index)) & 1n) === 1n;
}
