import type { Resource } from 'fhir/r4.js';
import type { Principal } from '../auth/principal.js';
import type { Tx } from './storage/database.js';

/** Who is calling and for what; authentication (src/auth) fills `principal` before any FHIR route but metadata. */
export interface RequestContext {
  requestId: string;
  principal?: Principal;
  /** The client's `X-Provenance` header (a Provenance without target), unparsed. */
  xProvenance?: string;
}

export type InteractionName =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'create'
  | 'search-type'
  | 'search-system'
  | 'validate'
  | 'capabilities'
  | 'transaction'
  | 'batch'
  | 'ledger'
  | 'verify'
  | 'everything'
  | 'consent-signing';

export interface Operation {
  interaction: InteractionName;
  resourceType?: string;
  id?: string;
}

/** One stored version, as written inside a transaction. */
export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The version exactly as vread returns it; undefined for a deletion. */
  resource: Resource | undefined;
}

/** Creates one more resource (server-assigned id) in the transaction being committed. */
export type CreateInTransaction = (resource: Resource) => Promise<StoredVersion>;

/** A listener's answer, or a promise of it: the core waits only on promises. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * The typed points where consent and provenance plug into the core without the
 * core importing them. Listeners run in registration order. Listeners on the read path may
 * answer synchronously: an answer known at once costs no promise or microtask (the runners
 * below wait only on promises), which is most of a listener's cost on a read.
 */
export interface FhirHooks {
  /** Before the operation runs: throw a FhirError to refuse it (deny fast). */
  beforeOperation: Array<(op: Operation, ctx: RequestContext) => MaybePromise<void>>;
  /** Per candidate resource, before paging and totals: return false to hide it. */
  filterCandidate: CandidateFilterListener[];
  /** Per resource about to be returned: return the (possibly masked) resource. */
  beforeReturn: Array<(resource: Resource, ctx: RequestContext) => MaybePromise<Resource>>;
  /**
   * Inside the storage transaction, after all versions are written, before COMMIT. What a
   * listener writes with `create` is appended to `versions` and seen by later listeners.
   */
  beforeCommit: Array<
    (
      tx: Tx,
      versions: StoredVersion[],
      ctx: RequestContext,
      create: CreateInTransaction,
    ) => Promise<void>
  >;
  /** After COMMIT succeeded. Failures are logged, never undo the write. */
  afterCommit: Array<(versions: StoredVersion[], ctx: RequestContext) => Promise<void>>;
  /**
   * Once per HTTP request, after the response went out (any status, errors included):
   * audit. Failures are logged and never reach the client.
   */
  afterRequest: Array<(ctx: RequestContext, outcome: RequestOutcome) => MaybePromise<void>>;
}

/** What `afterRequest` listeners learn about the finished request. */
export interface RequestOutcome {
  status: number;
  method: string;
  interaction: InteractionName;
  resourceType?: string;
  /**
   * The request URL relative to the FHIR base, query included (a POST `_search` form body is
   * not in it). It can name a patient: for the audit (patient data), never for logs.
   */
  url: string;
  /** The caller's network address as Express sees it (honours `trust proxy`). */
  clientAddress?: string;
}

/**
 * Hides candidates. `appliesTo` lets a listener say that, for this request, it
 * keeps everything (an unrestricted token): it is then skipped, so totals stay
 * exact and counted in SQL instead of row by row.
 */
export interface CandidateFilterListener {
  (resource: Resource, ctx: RequestContext): MaybePromise<boolean>;
  appliesTo?(ctx: RequestContext): boolean;
  /**
   * Called with each batch of candidates (a page of rows, the found includes, a page of
   * history) before they are filtered or returned one by one, so that what a decision needs
   * from storage is loaded in one round for the batch. Called whether or not the filter
   * applies to the request (what it records per returned resource may need the same data).
   * Optional: the listener must still work without it (a single read is not prepared).
   */
  prepare?(resources: Resource[], ctx: RequestContext): Promise<void>;
  /**
   * True when this filter would hide every resource of the type for this request (a token
   * without a scope for it): operations over many types (`$everything`) leave the type out
   * of their query instead of loading its rows to hide them.
   */
  excludesType?(resourceType: string, ctx: RequestContext): boolean;
}

/** The candidate filters that act on this request. */
export function activeFilters(hooks: FhirHooks, ctx: RequestContext): CandidateFilterListener[] {
  return hooks.filterCandidate.filter((listener) => listener.appliesTo?.(ctx) ?? true);
}

/** Lets every candidate filter load what it needs for a batch of resources at once. */
export async function prepareCandidates(
  hooks: FhirHooks,
  resources: Resource[],
  ctx: RequestContext,
): Promise<void> {
  if (resources.length === 0) return;
  for (const listener of hooks.filterCandidate) await listener.prepare?.(resources, ctx);
}

export function createHooks(): FhirHooks {
  return {
    beforeOperation: [],
    filterCandidate: [],
    beforeReturn: [],
    beforeCommit: [],
    afterCommit: [],
    afterRequest: [],
  };
}

/** Runs the beforeOperation listeners in order; a promise only if one of them answered with one. */
export function runBeforeOperation(
  hooks: FhirHooks,
  op: Operation,
  ctx: RequestContext,
  from = 0,
): Promise<void> | undefined {
  const listeners = hooks.beforeOperation;
  for (let i = from; i < listeners.length; i++) {
    const pending = listeners[i]!(op, ctx);
    if (pending instanceof Promise) {
      return pending.then(() => runBeforeOperation(hooks, op, ctx, i + 1));
    }
  }
  return undefined;
}

/** Whether every active candidate filter keeps the resource (no return transform). */
export function visible(
  hooks: FhirHooks,
  resource: Resource,
  ctx: RequestContext,
): MaybePromise<boolean> {
  return keptByAll(activeFilters(hooks, ctx), resource, ctx);
}

/** Whether each of `filters` (from `from` on) keeps the resource; waits only on promises. */
export function keptByAll(
  filters: CandidateFilterListener[],
  resource: Resource,
  ctx: RequestContext,
  from = 0,
): MaybePromise<boolean> {
  for (let i = from; i < filters.length; i++) {
    const kept = filters[i]!(resource, ctx);
    if (kept instanceof Promise) {
      return kept.then((yes) => yes === true && keptByAll(filters, resource, ctx, i + 1));
    }
    // Anything but true hides the resource: a filter that answers nothing has not permitted it.
    if (kept !== true) return false;
  }
  return true;
}

/** Applies the candidate filter and the return transform; hidden resources come back undefined. */
export function present(
  hooks: FhirHooks,
  resource: Resource,
  ctx: RequestContext,
): MaybePromise<Resource | undefined> {
  const shown = visible(hooks, resource, ctx);
  if (shown === true) return masked(hooks, resource, ctx);
  if (shown === false) return undefined;
  return shown.then((yes) => (yes ? masked(hooks, resource, ctx) : undefined));
}

/** The resource as the beforeReturn listeners (from `from` on) return it. */
export function masked(
  hooks: FhirHooks,
  resource: Resource,
  ctx: RequestContext,
  from = 0,
): MaybePromise<Resource> {
  const listeners = hooks.beforeReturn;
  let out = resource;
  for (let i = from; i < listeners.length; i++) {
    const next = listeners[i]!(out, ctx);
    if (next instanceof Promise) return next.then((r) => masked(hooks, r, ctx, i + 1));
    out = next;
  }
  return out;
}
