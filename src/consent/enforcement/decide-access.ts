import type { Hex } from 'viem';
import { ANY_ACTOR, classIndex, Decision } from '../../ledger/consent-encoding.js';
import type { AccessDecision } from '../access-record.js';
import { type ConsentState, explain } from '../decision-engine.js';
import type { ConsentCaller } from './consent-caller.js';

export interface DecideAccessParameters {
  /** Patient id (not the reference). */
  patient: string;
  resourceType: string;
  /** Bit index of the action (0 read, 1 write). */
  action: number;
  /** Unix seconds of the request. */
  time: bigint;
  /** The mirrored block the state is at. */
  block: bigint;
}

/** Thrown when a decision needs the chain and the mirror cannot vouch for it: 503. */
export class ConsentUnavailableError extends Error {
  override name = 'ConsentUnavailableError';
}

/**
 * One access decision for one patient compartment, in this order: the patient's own record,
 * a custodian, break-the-glass (policies: no grant needed), then the grants on chain through
 * the engine for every identity of the caller and every purpose of the request. Deny wins:
 * one applicable deny grant for any identity or purpose denies; otherwise every purpose must
 * be permitted. An unknown class or purpose is never granted. `fresh()` is asked only when the
 * chain is consulted, so policy decisions hold while the chain is unreachable.
 */
export function decideAccess(
  caller: ConsentCaller,
  state: ConsentState,
  fresh: () => boolean,
  params: DecideAccessParameters,
  patientKey: (patient: string) => Hex,
): Omit<AccessDecision, 'count'> {
  const base = { patient: `Patient/${params.patient}`, resourceType: params.resourceType };
  const policy = (basis: 'own-record' | 'custodian' | 'break-the-glass') => ({
    ...base,
    permitted: true,
    basis,
    grants: [],
    block: params.block,
  });
  if (caller.ownPatients.has(params.patient)) return policy('own-record');
  if (caller.custodian) return policy('custodian');
  if (caller.breakTheGlass) return policy('break-the-glass');
  const denied = {
    ...base,
    permitted: false,
    basis: 'no-grant' as const,
    grants: [],
    block: params.block,
  };
  let classBit: number;
  try {
    classBit = classIndex(params.resourceType);
  } catch {
    return denied;
  }
  if (!caller.purposes) return denied;
  if (!fresh()) throw new ConsentUnavailableError('consent state is not current');

  const key = patientKey(params.patient);
  const actors = caller.actorKeys.length > 0 ? caller.actorKeys : [ANY_ACTOR];
  const permits = new Set<Hex>();
  let allPermitted = true;
  for (const purpose of caller.purposes) {
    let permitted = false;
    for (const actorKey of actors) {
      const { decision, grants } = explain(state, {
        patientKey: key,
        actorKey,
        classBit,
        action: params.action,
        purpose,
        time: params.time,
      });
      if (decision === Decision.Deny) {
        return { ...base, permitted: false, basis: 'deny-grant', grants, block: params.block };
      }
      if (decision === Decision.Permit) {
        permitted = true;
        for (const g of grants) permits.add(g);
      }
    }
    allPermitted &&= permitted;
  }
  if (!allPermitted) return denied;
  return { ...base, permitted: true, basis: 'grant', grants: [...permits], block: params.block };
}
