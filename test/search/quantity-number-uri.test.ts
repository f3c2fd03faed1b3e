import type { FhirResource, Observation, Quantity } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SearchApi, sorted, startSearchApi } from './search-helpers.js';

/**
 * Quantity and number search with the implicit precision of the search value
 * (100 means [99.5, 100.5), 100.0 means [99.95, 100.05)), quantity system/code
 * handling, uri exact/:below/:above, composite code-value-quantity, _tag/_profile.
 */
let s: SearchApi;

const UCUM = 'http://unitsofmeasure.org';
const LOINC = 'http://loinc.org';
const obs = (id: string, code: string, valueQuantity?: Quantity): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: LOINC, code }] },
  ...(valueQuantity ? { valueQuantity } : {}),
});

const risk = (id: string, probability: number): FhirResource =>
  ({
    resourceType: 'RiskAssessment',
    id,
    status: 'final',
    subject: { reference: 'Patient/x' },
    prediction: [{ probabilityDecimal: probability }],
  }) as FhirResource;

beforeAll(async () => {
  s = await startSearchApi();
  await s.put(
    obs('q100', '8480-6', { value: 100, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' }),
    obs('q100.4', '8480-6', { value: 100.4, system: UCUM, code: 'mm[Hg]' }),
    obs('q100.5-unit-only', '8480-6', { value: 100.5, unit: 'mmHg' }),
    obs('q99.5-kg', '29463-7', { value: 99.5, system: UCUM, code: 'kg' }),
    obs('q120', '8462-4', { value: 120, system: UCUM, code: 'mm[Hg]' }),
    obs('q-none', '8462-4'),
    risk('r0.5', 0.5),
    risk('r0.55', 0.55),
    risk('r0.45', 0.45),
    risk('r0.505', 0.505),
  );
  const vs = (id: string, url: string): FhirResource =>
    ({ resourceType: 'ValueSet', id, status: 'active', url }) as FhirResource;
  await s.put(
    vs('v123', 'http://acme.org/fhir/ValueSet/123'),
    vs('v1234', 'http://acme.org/fhir/ValueSet/1234'),
    vs('vother', 'http://acme.org/fhir-other/ValueSet/9'),
    vs('vroot', 'http://acme.org/fhir'),
    { resourceType: 'ValueSet', id: 'vnone', status: 'draft' } as FhirResource,
  );
});
afterAll(() => s?.server.close());

const q = (path: string) => s.ids(path);

describe('quantity', () => {
  it.each<[string, string[]]>([
    ['100', ['q100', 'q100.4', 'q99.5-kg']],
    ['100.0', ['q100']],
    ['eq100', ['q100', 'q100.4', 'q99.5-kg']],
    ['ne100', ['q100.5-unit-only', 'q120']],
    ['gt100', ['q100.4', 'q100.5-unit-only', 'q120']],
    ['ge100', ['q100', 'q100.4', 'q100.5-unit-only', 'q120']],
    ['lt100', ['q99.5-kg']],
    ['le100', ['q100', 'q99.5-kg']],
    ['sa100', ['q100.4', 'q100.5-unit-only', 'q120']],
    ['eb100', ['q99.5-kg']],
    ['ap100', ['q100', 'q100.4', 'q100.5-unit-only', 'q99.5-kg']],
    // system and code
    ['100|http://unitsofmeasure.org|mm[Hg]', ['q100', 'q100.4']],
    ['100||mm[Hg]', ['q100', 'q100.4']],
    // the unit matches when there is no system
    ['100||mmHg', ['q100']],
    ['ge100||mmHg', ['q100', 'q100.5-unit-only']],
    ['100|http://unitsofmeasure.org|kg', ['q99.5-kg']],
    ['100|http://unitsofmeasure.org|mmHg', []],
    ['gt99|http://unitsofmeasure.org|mm[Hg]', ['q100', 'q100.4', 'q120']],
    // OR and AND
    ['100.0,120', ['q100', 'q120']],
  ])('value-quantity=%s', async (value, expected) => {
    expect(await q(`/Observation?value-quantity=${encodeURIComponent(value)}`)).toEqual(
      sorted(expected),
    );
  });

  it('AND of ge and le gives a window; :missing finds the one without a value', async () => {
    expect(await q('/Observation?value-quantity=ge100&value-quantity=le100.4')).toEqual(
      sorted(['q100', 'q100.4']),
    );
    expect(await q('/Observation?value-quantity:missing=true')).toEqual(['q-none']);
    expect((await q('/Observation?value-quantity:missing=false')).length).toBe(5);
  });
});

describe('number', () => {
  it.each<[string, string[]]>([
    ['0.5', ['r0.45', 'r0.5', 'r0.505']],
    ['0.50', ['r0.5']],
    ['0.500', ['r0.5']],
    ['gt0.5', ['r0.505', 'r0.55']],
    ['ge0.5', ['r0.5', 'r0.505', 'r0.55']],
    ['lt0.5', ['r0.45']],
    ['le0.5', ['r0.45', 'r0.5']],
    ['ne0.50', ['r0.45', 'r0.505', 'r0.55']],
    ['0.45,0.55', ['r0.45', 'r0.55']],
  ])('probability=%s', async (value, expected) => {
    expect(await q(`/RiskAssessment?probability=${value}`)).toEqual(sorted(expected));
  });
});

describe('uri', () => {
  it.each<[string, string[]]>([
    ['url=http://acme.org/fhir/ValueSet/123', ['v123']],
    ['url=http://acme.org/fhir/ValueSet/12', []],
    // :below is by path segment: fhir-other is not below fhir
    ['url:below=http://acme.org/fhir', ['v123', 'v1234', 'vroot']],
    ['url:below=http://acme.org/fhir/', ['v123', 'v1234']],
    ['url:below=http://acme.org/fhir/ValueSet/123', ['v123']],
    // :above: the stored url is the search url or one of its parent paths
    ['url:above=http://acme.org/fhir/ValueSet/123/_history/5', ['v123', 'vroot']],
    ['url:above=http://acme.org/fhir/ValueSet/1234', ['v1234', 'vroot']],
    ['url:missing=true', ['vnone']],
  ])('ValueSet?%s', async (query, expected) => {
    expect(await q(`/ValueSet?${query}`)).toEqual(sorted(expected));
  });
});

describe('composite', () => {
  it.each<[string, string[]]>([
    ['http://loinc.org|8480-6$gt100', ['q100.4', 'q100.5-unit-only']],
    ['8480-6$100', ['q100', 'q100.4']],
    ['8462-4$120', ['q120']],
    ['8462-4$100', []],
    ['8480-6$100|http://unitsofmeasure.org|mm[Hg]', ['q100', 'q100.4']],
    ['8480-6$gt100,8462-4$gt100', ['q100.4', 'q100.5-unit-only', 'q120']],
  ])('Observation?code-value-quantity=%s', async (value, expected) => {
    expect(await q(`/Observation?code-value-quantity=${encodeURIComponent(value)}`)).toEqual(
      sorted(expected),
    );
  });
});

describe('parameters defined on Resource: _tag, _profile, _security, _source', () => {
  beforeAll(async () => {
    await s.put({
      resourceType: 'Basic',
      id: 'tagged',
      code: { text: 'x' },
      meta: {
        tag: [{ system: 'urn:tags', code: 'vip' }],
        security: [
          { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' },
        ],
        profile: ['http://example.org/StructureDefinition/basic-x'],
        source: 'http://example.org/source#1',
      },
    } as FhirResource);
    await s.put({ resourceType: 'Basic', id: 'plain', code: { text: 'y' } } as FhirResource);
  });

  it.each<[string, string[]]>([
    ['_tag=urn:tags|vip', ['tagged']],
    ['_tag=vip', ['tagged']],
    ['_tag:not=vip', ['plain']],
    ['_tag:missing=true', ['plain']],
    ['_security=R', ['tagged']],
    ['_profile=http://example.org/StructureDefinition/basic-x', ['tagged']],
    ['_source=http://example.org/source%231', ['tagged']],
  ])('Basic?%s', async (query, expected) => {
    expect(await q(`/Basic?${query}`)).toEqual(sorted(expected));
  });
});
