import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseFhirPath } from '@medplum/core';
import type { Bundle, Resource } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { loadDefinitions } from '../definitions.js';
import { compilePath } from './compile-path.js';
import { indexRows } from './index-rows.js';
import { createParamResolver } from './search-parameters.js';

const definitions = loadDefinitions();
const params = createParamResolver(definitions);

/** A resource and the resources a Bundle or `contained` carries, each indexed on its own. */
function withNested(resource: Resource): Resource[] {
  const nested = (resource as { contained?: Resource[] }).contained ?? [];
  const entries = resource.resourceType === 'Bundle' ? ((resource as Bundle).entry ?? []) : [];
  return [
    resource,
    ...nested.flatMap(withNested),
    ...entries.flatMap((e) => (e.resource ? withNested(e.resource) : [])),
  ];
}

function readJson(file: string): Resource {
  return JSON.parse(readFileSync(file, 'utf8')) as Resource;
}

const synthea = readdirSync('test/fixtures/synthea')
  .filter((file) => file.endsWith('.json'))
  .flatMap((file) => withNested(readJson(path.join('test/fixtures/synthea', file))));

const examplesFolder = path.dirname(
  createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'),
);
// Up to 8 official examples per type (the package holds 5,000): every R4 type is covered and
// the test stays within seconds.
const PER_TYPE = 8;
const examples = (() => {
  const perType = new Map<string, number>();
  const out: Resource[] = [];
  for (const file of readdirSync(examplesFolder).sort()) {
    if (!file.endsWith('.json') || file === 'package.json' || file.startsWith('.')) continue;
    const type = file.split('-')[0]!;
    if (!definitions.isResourceType(type) || (perType.get(type) ?? 0) >= PER_TYPE) continue;
    const resource = readJson(path.join(examplesFolder, file));
    if (resource.resourceType !== type) continue;
    perType.set(type, (perType.get(type) ?? 0) + 1);
    out.push(...withNested(resource));
  }
  return out;
})();

/** Shapes the fixtures rarely hold: choice types, absolute and odd references, extensions. */
const handMade = [
  {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: 'https://other.example/fhir/Patient/p1/_history/2' },
    performer: [
      { reference: 'http://other.example/fhir/Practitioner/d1' },
      { reference: 'urn:uuid:0f6e5e2c-4e4d-4b0c-9f0a-3d1f1d2a8b77' },
      { reference: '#contained-1' },
      { type: 'Patient', identifier: { system: 'urn:mrn', value: '12' } },
      { identifier: { value: 'no-type' } },
      { reference: 'http://other.example/fhir/patients/not-type-and-id' },
      {
        reference: 'Patient/p9',
        identifier: {
          value: 'x',
          assigner: { reference: 'http://other.example/fhir/Organization/o1' },
        },
      },
    ],
    effectivePeriod: { start: '2020-01-01', end: '2020-02-01T10:00:00Z' },
    valueQuantity: {
      value: 72,
      unit: 'beats/min',
      system: 'http://unitsofmeasure.org',
      code: '/min',
    },
    component: [
      { code: { text: 'a' }, valueQuantity: { value: 5.001, unit: 'mg' } },
      { code: { text: 'b' }, valueQuantity: { value: 5.0, code: 'mg' } },
      { code: { text: 'c' }, valueCodeableConcept: { text: 'high', coding: [{ code: 'H' }] } },
      { code: { text: 'd' }, valueString: 'not a date' },
      { code: { text: 'e' }, valuePeriod: { start: '2021' } },
    ],
    contained: [{ resourceType: 'Patient', id: 'contained-1', gender: 'male' }],
    extension: [{ url: 'http://example.org/x', valueString: 'x' }],
  },
  {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'string value' },
    subject: { reference: 'Patient?identifier=urn:mrn|12' },
    valueString: 'Hello',
    _status: { extension: [{ url: 'http://example.org/why', valueString: 'because' }] },
  },
  {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'sampled' },
    subject: { reference: 'Group/g1' },
    valueSampledData: { origin: { value: 0 }, period: 1, dimensions: 1, data: '1 2' },
  },
  {
    resourceType: 'Patient',
    birthDate: '1970-03-04',
    _birthDate: {
      extension: [
        {
          url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime',
          valueDateTime: '1970-03-04T10:00:00Z',
        },
      ],
    },
    name: [{ family: 'Müller', given: ['Zoë', 'Ann'], _given: [null, { id: 'g2' }] }, { text: '' }],
    telecom: [
      { system: 'phone', value: '555-1' },
      { system: 'email', value: 'a@example.org' },
      { system: 'email', _system: { id: 's' }, value: 'b@example.org' },
    ],
    deceasedDateTime: '2020-01-01',
    generalPractitioner: [{ reference: 'http://other.example/fhir/Organization/o1' }],
    link: [{ other: { reference: 'Patient/p2' }, type: 'seealso' }],
    extension: [{ url: 'http://example.org/ext', valueCodeableConcept: { text: 'ext' } }],
  },
  {
    resourceType: 'Patient',
    _gender: { extension: [{ url: 'http://example.org/absent', valueCode: 'asked-declined' }] },
    _birthDate: { id: 'b' },
    name: [{ family: 'Ng', given: ['Al'], _given: [null, { id: 'only-extension' }] }],
  },
  {
    resourceType: 'Condition',
    subject: { reference: 'http://other.example/fhir/Patient/p1' },
    code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] },
    onsetAge: { value: 40, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' },
    abatementString: 'in remission',
  },
  {
    resourceType: 'Condition',
    subject: { reference: 'Patient/p1' },
    onsetDateTime: '2001-02-03',
    abatementPeriod: { start: '2002', end: '2003' },
  },
  {
    resourceType: 'Condition',
    subject: { reference: 'Patient/p1' },
    onsetString: 'childhood',
    onsetRange: { low: { value: 1 } },
  },
  {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationReference: { reference: 'Medication/m1' },
    subject: { reference: 'http://other.example/fhir/Patient/p1', display: 'P' },
  },
  {
    resourceType: 'AuditEvent',
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110112' },
    recorded: '2020-01-01T00:00:00Z',
    agent: [{ who: { reference: 'Patient/p1' }, requestor: true }],
    source: { observer: { display: 'server' } },
    entity: [
      { what: { reference: 'http://other.example/fhir/Patient/p1' } },
      { what: { reference: 'Patient/p1' } },
    ],
  },
  {
    resourceType: 'Library',
    status: 'active',
    type: { text: 'logic' },
    relatedArtifact: [
      { type: 'depends-on', resource: 'http://example.org/Library/a' },
      { type: 'composed-of', resource: 'http://example.org/Library/b' },
      { type: 'depends-on', resource: 'http://example.org/Library/a' },
    ],
    useContext: [
      { code: { code: 'age' }, valueRange: { low: { value: 18, unit: 'a' } } },
      { code: { code: 'focus' }, valueCodeableConcept: { coding: [{ code: 'x' }] } },
      { code: { code: 'q' }, valueQuantity: { value: 2 } },
    ],
  },
  {
    resourceType: 'Group',
    type: 'person',
    actual: true,
    characteristic: [
      { code: { text: 'c' }, valueBoolean: true, exclude: false },
      { code: { text: 'd' }, valueCodeableConcept: { text: 'v' }, exclude: false },
    ],
  },
] as unknown as Resource[];

describe('compiled search paths', () => {
  it('compile every official R4 expression but those needing the engine', () => {
    const left: string[] = [];
    for (const type of definitions.resourceTypes) {
      for (const param of params.all(type)) {
        if (!param.expression || param.type === 'composite' || param.type === 'special') continue;
        if (!compilePath(parseFhirPath(param.expression))) left.push(`${type}.${param.code}`);
      }
    }
    expect(left.sort()).toEqual(['Bundle.composition', 'Bundle.message', 'Patient.deceased']);
  });

  it('reads every type of the fixtures and official examples', () => {
    const types = new Set([...synthea, ...examples].map((r) => r.resourceType));
    // The R4 package has no example of these.
    expect(definitions.resourceTypes.filter((type) => !types.has(type))).toEqual([
      'SubstanceNucleicAcid',
      'SubstancePolymer',
      'SubstanceProtein',
      'SubstanceReferenceInformation',
      'SubstanceSourceMaterial',
    ]);
    expect(synthea.length).toBeGreaterThan(1000);
  });

  it.each([
    ['Synthea fixtures', synthea],
    ['official examples', examples],
    ['hand-made resources', handMade],
  ])('yield the same index rows as the FHIRPath engine on the %s', (_name, resources) => {
    for (const resource of resources) {
      const label = `${resource.resourceType}/${resource.id ?? JSON.stringify(resource).slice(0, 80)}`;
      expect(indexRows(resource, params), label).toEqual(indexRows(resource, params, 'engine'));
    }
  });

  it('index an absolute reference like a relative one where the type is filtered', () => {
    const condition = handMade.find((r) => r.resourceType === 'Condition')!;
    const { reference } = indexRows(condition, params);
    const rows = reference.param.map((p, n) => [p, reference.targetType[n], reference.url[n]]);
    expect(rows).toContainEqual(['patient', 'Patient', null]);
    expect(rows).toContainEqual(['subject', 'Patient', 'http://other.example/fhir/Patient/p1']);
  });
});
