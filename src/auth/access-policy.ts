import type { Resource } from 'fhir/r4.js';
import type { ParamResolver } from '../fhir/search/search-parameters.js';
import { patientCompartment } from './patient-compartment.js';
import type { Principal } from './principal.js';
import { matchesParam } from './resource-match.js';
import type { Permission, Scope } from './scopes.js';

/** Scopes that can act at all: `patient/` scopes need a patient context to mean anything. */
function usable(principal: Principal): Scope[] {
  return principal.scopes.filter((s) => s.context !== 'patient' || principal.patient);
}

const coversType = (s: Scope, type: string | undefined) =>
  s.resourceType === '*' || (type !== undefined && s.resourceType === type);

/**
 * Type-level check, before any data is loaded: some scope grants one of
 * `permissions` on the type (on any type when `resourceType` is undefined).
 * Per-resource restrictions (granular queries, the patient compartment) are
 * checked per resource by `allowsResource`.
 */
export function allowsType(
  principal: Principal,
  resourceType: string | undefined,
  permissions: Permission[],
): boolean {
  return usable(principal).some(
    (s) =>
      (resourceType === undefined || coversType(s, resourceType)) &&
      permissions.some((p) => s.permissions.has(p)),
  );
}

/** Whether some scope grants one of `permissions` on this very resource. */
export function allowsResource(
  principal: Principal,
  resource: Resource,
  permissions: Permission[],
  params: ParamResolver,
): boolean {
  return usable(principal).some(
    (s) =>
      coversType(s, resource.resourceType) &&
      permissions.some((p) => s.permissions.has(p)) &&
      s.query.every(([code, value]) => matchesParam(resource, params, code, value)) &&
      (s.context !== 'patient' ||
        patientCompartment(resource, principal.patient!, params) !== 'outside'),
  );
}

/** True when no scope with these permissions carries a per-resource restriction: checks can be skipped. */
export function unrestricted(
  principal: Principal,
  resourceType: string,
  permissions: Permission[],
): boolean {
  return usable(principal).some(
    (s) =>
      coversType(s, resourceType) &&
      permissions.some((p) => s.permissions.has(p)) &&
      s.query.length === 0 &&
      s.context !== 'patient',
  );
}
