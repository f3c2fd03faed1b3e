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

/**
 * The typed points where consent and provenance plug into the core without the
 * core importing them. Listeners run in registration order.
 */
export interface FhirHooks {
  /** Before the operation runs: throw a FhirError to refuse it (deny fast). */
  beforeOperation: Array<(op: Operation, ctx: RequestContext) => Promise<void>>;
  /** Per candidate resource, before paging and totals: return false to hide it. */
  filterCandidate: CandidateFilterListener[];
  /** Per resource about to be returned: return the (possibly masked) resource. */
  beforeReturn: Array<(resource: Resource, ctx: RequestContext) => Promise<Resource>>;
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
  afterRequest: Array<(ctx: RequestContext, outcome: RequestOutcome) => Promise<void>>;
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
  (resource: Resource, ctx: RequestContext): Promise<boolean>;
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

export async function runBeforeOperation(hooks: FhirHooks, op: Operation, ctx: RequestContext) {
  for (const listener of hooks.beforeOperation) await listener(op, ctx);
}

/** Whether every active candidate filter keeps the resource (no return transform). */
export async function visible(
  hooks: FhirHooks,
  resource: Resource,
  ctx: RequestContext,
): Promise<boolean> {
  for (const listener of activeFilters(hooks, ctx)) {
    if (!(await listener(resource, ctx))) return false;
  }
  return true;
}

/** Applies the candidate filter and the return transform; hidden resources come back undefined. */
export async function present(
  hooks: FhirHooks,
  resource: Resource,
  ctx: RequestContext,
): Promise<Resource | undefined> {
  if (!(await visible(hooks, resource, ctx))) return undefined;
  let out = resource;
  for (const listener of hooks.beforeReturn) out = await listener(out, ctx);
  return out;
}
