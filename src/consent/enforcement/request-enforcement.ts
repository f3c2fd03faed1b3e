import type { Resource } from 'fhir/r4.js';
import type { RequestContext } from '../../fhir/hooks.js';
import type { AccessDecision } from '../access-record.js';
import type { ConsentCaller } from './consent-caller.js';
import type { TargetContents } from './provenance-targets.js';

/** A decision made for a caller, with its key in the access record (computed once). */
export interface Decided {
  decision: Omit<AccessDecision, 'count'>;
  recordKey: string;
}

/** A decision remembered for the caller's next requests, with what it was made on. */
export interface Remembered {
  decided: Decided;
  /** Whether it consulted the chain's grants (reused only while the mirror is current). */
  chain: boolean;
  block: bigint;
  version: number;
  time: bigint;
}

/** What enforcement keeps for one request: computed once, reused by every hook call. */
export interface RequestEnforcement {
  caller: ConsentCaller;
  /** The caller's decisions of recent requests, by `patient|type|action`. */
  remembered: Map<string, Remembered>;
  /** Unix seconds at the request's first decision: one instant for the whole request. */
  time: bigint;
  /** Decisions by `patient|type|action`: a search over 500 observations decides once. */
  decisions: Map<string, Decided>;
  /** Versions already recorded, so the second pass of a filtered total records nothing twice. */
  recorded: Set<string>;
  /** The same for writes (the write action); created by the first. */
  recordedWrites?: Set<string>;
  /** Set once the mirror was found current for this request: later decisions use that state. */
  current?: boolean;
  /** The targets of the Provenances seen, as they are now (whose data a Provenance is). */
  targets?: TargetContents;
}

// Kept on the request context under a symbol the core never sees: a WeakMap keyed by each
// request's context made every young-generation GC walk its entries (ephemerons).
const STATE = Symbol('consent enforcement');
type WithState = RequestContext & { [STATE]?: RequestEnforcement };

export function enforcementOf(ctx: RequestContext): RequestEnforcement | undefined {
  return (ctx as WithState)[STATE];
}

export function setEnforcement(ctx: RequestContext, state: RequestEnforcement): void {
  (ctx as WithState)[STATE] = state;
}

/** `Type/id/_history/vid`, the version a decision or a returned resource is about. */
export function versionKey(resource: Resource): string {
  const vid = resource.meta?.versionId;
  return `${resource.resourceType}/${resource.id}${vid ? `/_history/${vid}` : ''}`;
}
