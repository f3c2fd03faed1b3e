import type { Resource } from 'fhir/r4.js';
import { FhirError, issue } from '../fhir/errors.js';
import type { FhirHooks, InteractionName, RequestContext, StoredVersion } from '../fhir/hooks.js';
import type { ParamResolver } from '../fhir/search/search-parameters.js';
import type { Tx } from '../fhir/storage/database.js';
import { allowsResource, allowsType, unrestricted } from './access-policy.js';
import { isPrincipal, type Principal } from './principal.js';
import type { Permission } from './scopes.js';

/** The SMART permission each interaction needs; undefined = no data is touched by the call itself. */
const NEEDS: Record<InteractionName, Permission[] | undefined> = {
  read: ['r'],
  vread: ['r'],
  'history-instance': ['r'],
  'history-type': ['s'],
  'history-system': ['s'],
  'search-type': ['s'],
  'search-system': ['s'],
  create: ['c'],
  update: ['u'],
  // A patch is an update; the version it reads must also be visible (read's filter), as on read.
  patch: ['u'],
  delete: ['d'],
  validate: ['c', 'u'],
  // $verify proves one version: as sensitive as reading it.
  verify: ['r'],
  // Patient/[id]/$everything reads and searches many types: the call needs read or search on
  // some type, and each type the token cannot see is left out of the result (`excludesType`).
  everything: ['r', 's'],
  // $signing-request prepares a Consent write: as for $validate.
  'consent-signing': ['c', 'u'],
  // $ledger names the chain and contracts: no patient data, but still an authenticated call.
  ledger: undefined,
  capabilities: undefined,
  // Bundles need a caller; each entry is checked as its own interaction.
  transaction: undefined,
  batch: undefined,
};
/** What lets a resource be seen once loaded (search results, includes, history entries). */
const SEE: Permission[] = ['r', 's'];

export function principalOf(ctx: RequestContext): Principal {
  if (!isPrincipal(ctx.principal)) {
    // Authentication runs before every FHIR route but metadata; reaching here without one is a wiring fault.
    throw new FhirError(401, [issue('login', 'Authentication required')]);
  }
  return ctx.principal;
}

export const forbidden = (message: string) => new FhirError(403, [issue('forbidden', message)]);

/**
 * Registers SMART scope enforcement on the core's hook points:
 *  - beforeOperation: the interaction's permission on the type (403 otherwise);
 *  - filterCandidate: per resource, a scope that covers it (type, granular query,
 *    patient compartment), before paging and totals, in includes and history;
 *  - beforeCommit: every written version (and the version it replaces) must be
 *    covered by a write scope, so a patient app cannot write into another
 *    patient's compartment; throwing rolls the transaction back.
 */
export function registerScopeEnforcement(hooks: FhirHooks, params: ParamResolver): void {
  hooks.beforeOperation.push((op, ctx) => {
    if (op.interaction === 'capabilities') return;
    const principal = principalOf(ctx);
    const needs = NEEDS[op.interaction];
    if (!needs) return;
    const type = op.interaction === 'everything' ? undefined : op.resourceType;
    if (!allowsType(principal, type, needs)) {
      const what = type ?? 'any resource type';
      throw forbidden(
        `The access token's scopes do not allow ${op.interaction} on ${what} (needs ${needs.join(' or ')})`,
      );
    }
  });

  const filter = (resource: Resource, ctx: RequestContext) => {
    const principal = principalOf(ctx);
    if (unrestricted(principal, resource.resourceType, SEE)) return true;
    return allowsResource(principal, resource, SEE, params);
  };
  // A token that may see every type without restriction (system/*.rs) needs no per-row check.
  filter.appliesTo = (ctx: RequestContext) => !unrestricted(principalOf(ctx), '*', SEE);
  filter.excludesType = (type: string, ctx: RequestContext) =>
    !allowsType(principalOf(ctx), type, SEE);
  hooks.filterCandidate.push(filter);

  hooks.beforeCommit.push(async (tx, versions, ctx) => {
    const principal = principalOf(ctx);
    for (const v of versions) {
      const needs = writePermission(v);
      if (unrestricted(principal, v.resourceType, [needs])) continue;
      const previous = v.versionId > 1 ? await previousContent(tx, v) : undefined;
      for (const resource of [v.resource, previous]) {
        if (resource && !allowsResource(principal, resource, [needs], params)) {
          throw forbidden(
            `The access token's scopes do not allow writing this ${v.resourceType} (outside the granted patient compartment or scope restriction)`,
          );
        }
      }
    }
  });
}

function writePermission(v: StoredVersion): Permission {
  if (v.method === 'DELETE') return 'd';
  return v.versionId === 1 ? 'c' : 'u';
}

async function previousContent(tx: Tx, v: StoredVersion): Promise<Resource | undefined> {
  const { rows } = await tx.query<{ content: Resource | null }>(
    `SELECT content FROM resource_version
      WHERE resource_type = $1 AND id = $2 AND version_id < $3
      ORDER BY version_id DESC LIMIT 1`,
    [v.resourceType, v.id, v.versionId],
  );
  return rows[0]?.content ?? undefined;
}
