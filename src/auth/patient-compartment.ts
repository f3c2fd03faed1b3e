import type { Resource } from 'fhir/r4.js';
import { patientCompartmentParams as compartmentParams } from '../fhir/search/patient-compartment-definition.js';
import type { ParamResolver } from '../fhir/search/search-parameters.js';
import { rowsFor } from './resource-match.js';

/**
 * The patient compartment membership test behind `patient/` scopes:
 *  - `inside`: the resource is in the patient's compartment (the Patient itself, or
 *    a resource whose compartment parameters reference that Patient);
 *  - `outside`: it belongs to the compartment of some patient, but not this one;
 *  - `shared`: its type is not patient data at all (Practitioner, Medication,
 *    Organization ...), which a patient app may read like any other client.
 */
export type CompartmentVerdict = 'inside' | 'outside' | 'shared';

export function patientCompartment(
  resource: Resource,
  patientId: string,
  params: ParamResolver,
): CompartmentVerdict {
  if (resource.resourceType === 'Patient' && resource.id === patientId) return 'inside';
  const codes = compartmentParams.get(resource.resourceType) ?? [];
  if (codes.length === 0) return 'shared';
  const rows = rowsFor(resource, params, codes);
  const { targetType, targetId } = rows.reference;
  for (let i = 0; i < targetId.length; i++) {
    if (targetType[i] === 'Patient' && targetId[i] === patientId) return 'inside';
  }
  return 'outside';
}

/** Whether a type can hold patient data (has compartment parameters, or is Patient). */
export function isCompartmentType(resourceType: string): boolean {
  return (compartmentParams.get(resourceType)?.length ?? 0) > 0;
}

/** The patients a resource's data belongs to; see `compartmentPatients`. */
export interface CompartmentPatients {
  /** Ids of the patients named by a literal reference (or the Patient itself). */
  ids: string[];
  /**
   * A compartment parameter refers to someone by an unparsable URL, or (with no Patient named)
   * by identifier only: possibly a patient who cannot be named, so decisions must fail closed.
   */
  unidentified: boolean;
}

/**
 * The patients whose compartment the resource is in (the Patient itself, and each Patient its
 * compartment parameters reference), or undefined when its type is not patient data. Consent
 * decides per patient: a resource naming several patients needs each of them.
 */
export function compartmentPatients(
  resource: Resource,
  params: ParamResolver,
): CompartmentPatients | undefined {
  const codes = compartmentParams.get(resource.resourceType) ?? [];
  if (resource.resourceType !== 'Patient' && codes.length === 0) return undefined;
  const ids = new Set<string>();
  if (resource.resourceType === 'Patient' && resource.id) ids.add(resource.id);
  let unidentified = false;
  if (codes.length > 0) {
    const rows = rowsFor(resource, params, codes);
    const { targetType, targetId } = rows.reference;
    for (let i = 0; i < targetId.length; i++) {
      const id = targetId[i];
      if (!id || !targetType[i]) unidentified = true;
      else if (targetType[i] === 'Patient') ids.add(id);
    }
    // A reference by identifier only names no one we can decide for: when it is the only way
    // the resource points at someone, it may be a patient's data, so it counts as unidentified.
    if (ids.size === 0 && rows.token.param.some((p) => p.endsWith(':identifier')))
      unidentified = true;
  }
  return { ids: [...ids], unidentified };
}
