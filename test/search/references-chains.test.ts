import type { Bundle, FhirResource } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchIds, type SearchApi, sorted, startSearchApi } from './search-helpers.js';

/**
 * Reference search (Type/id, id, absolute URL, :Type, :identifier, :missing),
 * chains, reverse chains (_has), _include/_revinclude with :iterate.
 */
let s: SearchApi;

const LOINC = 'http://loinc.org';
const obs = (id: string, subject: object | undefined, code: string, value?: number): FhirResource =>
  ({
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: LOINC, code }] },
    ...(subject ? { subject } : {}),
    ...(value !== undefined
      ? { valueQuantity: { value, system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } }
      : {}),
  }) as FhirResource;

beforeAll(async () => {
  s = await startSearchApi();
  await s.put(
    {
      resourceType: 'Organization',
      id: 'acme',
      name: 'Acme Health',
      identifier: [{ system: 'urn:org', value: 'A1' }],
    },
    { resourceType: 'Organization', id: 'beta', name: 'Beta Clinic' },
    { resourceType: 'Practitioner', id: 'house', name: [{ family: 'House' }] },
    {
      resourceType: 'Patient',
      id: 'peter',
      name: [{ family: 'Chalmers', given: ['Peter'] }],
      identifier: [{ system: 'urn:mrn', value: '111' }],
      managingOrganization: { reference: 'Organization/acme' },
      generalPractitioner: [{ reference: 'Practitioner/house' }],
    },
    {
      resourceType: 'Patient',
      id: 'anna',
      name: [{ family: 'Bell', given: ['Anna'] }],
      managingOrganization: { reference: 'Organization/beta' },
    },
    { resourceType: 'Group', id: 'peter', type: 'person', actual: true, name: 'Peter group' },
    obs('o-peter', { reference: 'Patient/peter' }, '8480-6', 120),
    obs('o-anna', { reference: 'Patient/anna' }, '8480-6', 100),
    obs('o-group', { reference: 'Group/peter' }, '8480-6', 130),
    obs('o-ident', { identifier: { system: 'urn:mrn', value: '111' } }, '8462-4'),
    obs('o-none', undefined, '8462-4'),
    obs('o-peter-dia', { reference: 'Patient/peter' }, '8462-4', 80),
    {
      resourceType: 'Encounter',
      id: 'enc',
      status: 'finished',
      class: { code: 'AMB' },
      subject: { reference: 'Patient/peter' },
    } as FhirResource,
  );
  // an absolute reference to this server counts as the local resource
  await s.put(obs('o-absolute', { reference: `${s.server.base}/Patient/anna` }, '8310-5'));
});
afterAll(() => s?.server.close());

const q = (path: string) => s.ids(path);

describe('reference', () => {
  it.each<[string, string[]]>([
    ['subject=Patient/peter', ['o-peter', 'o-peter-dia']],
    // an id alone matches any target type the parameter allows
    ['subject=peter', ['o-peter', 'o-peter-dia', 'o-group']],
    ['subject:Patient=peter', ['o-peter', 'o-peter-dia']],
    ['subject:Group=peter', ['o-group']],
    ['subject=Group/peter', ['o-group']],
    // patient only targets Patient
    ['patient=peter', ['o-peter', 'o-peter-dia']],
    ['patient=Patient/anna', ['o-anna', 'o-absolute']],
    ['subject=Patient/peter,Patient/anna', ['o-peter', 'o-peter-dia', 'o-anna', 'o-absolute']],
    ['subject=Patient/nobody', []],
    ['subject:identifier=urn:mrn|111', ['o-ident']],
    ['subject:identifier=111', ['o-ident']],
    ['subject:identifier=urn:other|111', []],
    ['subject:missing=true', ['o-none']],
  ])('Observation?%s', async (query, expected) => {
    expect(await q(`/Observation?${query}`)).toEqual(sorted(expected));
  });

  it('an absolute URL on this server finds local references, relative or absolute', async () => {
    const url = encodeURIComponent(`${s.server.base}/Patient/anna`);
    expect(await q(`/Observation?subject=${url}`)).toEqual(sorted(['o-anna', 'o-absolute']));
  });

  it(':missing=false covers references with only an identifier', async () => {
    expect(await q('/Observation?subject:missing=false')).toEqual(
      sorted(['o-peter', 'o-anna', 'o-group', 'o-ident', 'o-peter-dia', 'o-absolute']),
    );
  });
});

describe('chains and reverse chains', () => {
  it.each<[string, string[]]>([
    ['subject:Patient.name=peter', ['o-peter', 'o-peter-dia']],
    // Group has no name parameter, so the chain only looks at the other targets
    ['subject.name=peter', ['o-peter', 'o-peter-dia']],
    ['patient.identifier=urn:mrn|111', ['o-peter', 'o-peter-dia']],
    ['patient.name=bell', ['o-anna', 'o-absolute']],
    ['patient.organization.name=acme', ['o-peter', 'o-peter-dia']],
    ['patient.organization.identifier=urn:org|A1', ['o-peter', 'o-peter-dia']],
    ['patient.organization.name=nope', []],
    // chained AND a plain parameter
    ['patient.name=peter&code=8462-4', ['o-peter-dia']],
  ])('Observation?%s', async (query, expected) => {
    expect(await q(`/Observation?${query}`)).toEqual(sorted(expected));
  });

  it.each<[string, string[]]>([
    ['Patient?_has:Observation:patient:code=8480-6', ['peter', 'anna']],
    ['Patient?_has:Observation:patient:code=8462-4', ['peter']],
    ['Patient?_has:Observation:subject:value-quantity=gt110', ['peter']],
    ['Patient?_has:Observation:patient:code=9999-9', []],
    [
      'Organization?_has:Patient:organization:_has:Observation:patient:value-quantity=gt110',
      ['acme'],
    ],
    ['Organization?_has:Patient:organization:name=bell', ['beta']],
    ['Patient?_has:Encounter:patient:status=finished', ['peter']],
  ])('%s', async (query, expected) => {
    expect(await q(`/${query}`)).toEqual(sorted(expected));
  });
});

const byMode = (bundle: Bundle, mode: string) =>
  (bundle.entry ?? [])
    .filter((e) => e.search?.mode === mode)
    .map((e) => `${e.resource!.resourceType}/${e.resource!.id}`)
    .sort();

describe('_include and _revinclude', () => {
  it('_include adds the referenced resources as include entries, not counted in total', async () => {
    const b = await s.bundle('/Observation?code=8480-6&_include=Observation:patient');
    expect(b.total).toBe(3);
    expect(matchIds(b)).toEqual(['o-anna', 'o-group', 'o-peter']);
    expect(byMode(b, 'include')).toEqual(['Patient/anna', 'Patient/peter']);
  });

  it('_include with a target type keeps only that type', async () => {
    const b = await s.bundle('/Observation?code=8480-6&_include=Observation:subject:Group');
    expect(byMode(b, 'include')).toEqual(['Group/peter']);
    const all = await s.bundle('/Observation?code=8480-6&_include=Observation:subject');
    expect(byMode(all, 'include')).toEqual(['Group/peter', 'Patient/anna', 'Patient/peter']);
  });

  it('a resource both matched and included appears once, as a match', async () => {
    const b = await s.bundle(
      '/Patient?_include=Patient:organization&_revinclude=Patient:organization',
    );
    expect(byMode(b, 'match')).toEqual(['Patient/anna', 'Patient/peter']);
    expect(byMode(b, 'include')).toEqual(['Organization/acme', 'Organization/beta']);
  });

  it(':iterate follows references of included resources; without it only one level', async () => {
    const iterate = await s.bundle(
      '/Encounter?_include=Encounter:patient&_include:iterate=Patient:general-practitioner',
    );
    expect(byMode(iterate, 'match')).toEqual(['Encounter/enc']);
    expect(byMode(iterate, 'include')).toEqual(['Patient/peter', 'Practitioner/house']);
    const flat = await s.bundle(
      '/Encounter?_include=Encounter:patient&_include=Patient:general-practitioner',
    );
    expect(byMode(flat, 'include')).toEqual(['Patient/peter']);
  });

  it('_revinclude adds the resources that refer to the matches', async () => {
    const b = await s.bundle('/Patient?_id=peter&_revinclude=Observation:subject');
    expect(b.total).toBe(1);
    expect(byMode(b, 'include')).toEqual(['Observation/o-peter', 'Observation/o-peter-dia']);
    const anna = await s.bundle('/Patient?_id=anna&_revinclude=Observation:patient');
    expect(byMode(anna, 'include')).toEqual(['Observation/o-absolute', 'Observation/o-anna']);
  });

  it('_revinclude:iterate continues from the included resources', async () => {
    const b = await s.bundle(
      '/Organization?_id=acme&_revinclude=Patient:organization&_revinclude:iterate=Observation:patient',
    );
    expect(byMode(b, 'include')).toEqual([
      'Observation/o-peter',
      'Observation/o-peter-dia',
      'Patient/peter',
    ]);
  });

  it('an include of a deleted resource is left out', async () => {
    await s.put({ resourceType: 'Organization', id: 'gone', name: 'Gone' });
    await s.put({
      resourceType: 'Patient',
      id: 'orphan',
      managingOrganization: { reference: 'Organization/gone' },
    });
    await s.api.delete('/Organization/gone').expect((r) => expect([200, 204]).toContain(r.status));
    const b = await s.bundle('/Patient?_id=orphan&_include=Patient:organization');
    expect(byMode(b, 'include')).toEqual([]);
    expect(await q('/Patient?organization.name=gone')).toEqual([]);
  });
});
