import type { Parameters, Resource } from 'fhir/r4.js';
import type { Definitions } from '../definitions.js';
import type { FhirHooks, InteractionName, RequestContext, StoredVersion } from '../hooks.js';
import type { ParamResolver } from '../search/search-parameters.js';
import type { Database } from '../storage/database.js';
import type { ResourceStore, VersionRow } from '../storage/resource-store.js';

/** An HTTP request reduced to what FHIR interactions need. */
export interface FhirRequest {
  resourceType?: string;
  id?: string;
  versionId?: string;
  query: Record<string, string | string[] | undefined>;
  body: unknown;
  header(name: string): string | undefined;
  /** Absolute base URL of the FHIR endpoint, without trailing slash. */
  baseUrl: string;
  /** The request URL relative to the base (for paging links). */
  url: string;
  ctx: RequestContext;
}

/** What an interaction returns; one adapter turns it into HTTP. */
export interface FhirResponse {
  status: number;
  resource?: Resource;
  headers?: Record<string, string>;
  /** Apply `Prefer: return=...` to this response (create, update, patch). */
  honourPrefer?: boolean;
  /** `resource` already as JSON, for a large fixed document served often (the CapabilityStatement). */
  serialized?: string;
}

export interface Services {
  db: Database;
  store: ResourceStore;
  definitions: Definitions;
  hooks: FhirHooks;
  /** Search parameters per resource type (indexing and search). */
  params: ParamResolver;
  /** The route table, for the CapabilityStatement. */
  routes: readonly Route[];
  software: { name: string; version: string };
  /** The CapabilityStatement's `rest.security` (SMART endpoints), given by the composition root. */
  security?: (baseUrl: string) => import('fhir/r4.js').CapabilityStatementRestSecurity;
  /** Anchoring on a chain, plugged in by the composition root; unset = $ledger/$verify are 501. */
  ledger?: LedgerOperations;
  /** The Consent lifecycle, plugged in with the ledger; unset = $signing-request is 501. */
  consent?: ConsentOperations;
}

/** What the core asks of the consent lifecycle, so that it needs no import of it. */
export interface ConsentOperations {
  /**
   * The EIP-712 messages a patient (or delegate) signs so that `consent`, written as its next
   * version, is relayed as patient-signed grants; `deadline` is an instant (default in 1 h).
   */
  signingRequest(
    consent: Resource,
    deadline: string | undefined,
    ctx: RequestContext,
  ): Promise<Parameters>;
}

/** What the core asks of the ledger, so that it needs no import of it. */
export interface LedgerOperations {
  /** The $ledger Parameters: chain id, contract addresses, public RPC URL. */
  describe(): Promise<Parameters>;
  /** The $verify Parameters of one stored version (tombstones included). */
  verify(version: VersionRow): Promise<Parameters>;
}

export type Handler = (req: FhirRequest, services: Services) => Promise<FhirResponse>;

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  /** CapabilityStatement interaction code, or an operation name starting with `$`. */
  interaction: InteractionName;
  level: 'system' | 'type' | 'instance';
  operation?: { name: string; definition: string };
  handler: Handler;
}

/** What a write inside a transaction produced, before it becomes HTTP or a Bundle entry. */
export interface WriteResult {
  status: 200 | 201;
  version: Pick<StoredVersion, 'resourceType' | 'id' | 'versionId' | 'lastUpdated'>;
  /** The stored (or, for a matched conditional create, the presented) resource. */
  resource: Resource | undefined;
}
