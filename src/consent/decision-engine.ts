import { ANY_ACTOR, Decision, Effect } from '../ledger/consent-encoding.js';
import type { GrantTerms } from './grant-terms.js';

/** What the engine needs from the mirrored chain state: the active grants of a pair. */
export interface ConsentState {
  /** Active (not revoked) grants of `patient` whose actor key is exactly `actor`. */
  activeGrants(patient: string, actor: string): Iterable<GrantTerms>;
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
  const own = decidePair(state.activeGrants(params.patientKey, params.actorKey), params);
  if (own === Decision.Deny || params.actorKey === ANY_ACTOR) return own;
  const wildcard = decidePair(state.activeGrants(params.patientKey, ANY_ACTOR), params);
  return wildcard === Decision.NotApplicable ? own : wildcard;
}

function decidePair(grants: Iterable<GrantTerms>, p: DecideParameters): DecideReturnType {
  let decision: DecideReturnType = Decision.NotApplicable;
  for (const g of grants) {
    if (p.time < g.validFrom || (g.validUntil !== 0n && p.time >= g.validUntil)) continue;
    if (!bit(g.classes, p.classBit)) continue;
    if (!bit(BigInt(g.actions), p.action)) continue;
    if (!bit(BigInt(g.purposes), p.purpose)) continue;
    if (g.effect === Effect.Deny) return Decision.Deny;
    decision = Decision.Permit;
  }
  return decision;
}

function bit(mask: bigint, index: number): boolean {
  return ((mask >> BigInt(index)) & 1n) === 1n;
}
