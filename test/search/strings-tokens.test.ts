import type { Observation, Patient } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SearchApi, sorted, startSearchApi } from './search-helpers.js';

/**
 * String search (starts-with, case- and accent-insensitive; :exact; :contains) and
 * token search (system|code, |code, system|, code; :not, :text, :of-type; booleans).
 */
let s: SearchApi;

const V2 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const patients: Patient[] = [
  {
    resourceType: 'Patient',
    id: 'mueller',
    name: [{ use: 'official', family: 'Müller', given: ['Hans'] }],
    identifier: [
      {
        system: 'urn:mrn',
        value: '123',
        type: { coding: [{ system: V2, code: 'MR' }], text: 'Medical record number' },
      },
    ],
    active: true,
    gender: 'male',
    telecom: [{ system: 'email', value: 'hans@example.org' }],
  },
  {
    resourceType: 'Patient',
    id: 'muller',
    name: [{ family: 'Muller', given: ['Anna'] }],
    identifier: [{ value: '123' }],
    active: false,
    gender: 'female',
  },
  {
    resourceType: 'Patient',
    id: 'elise',
    name: [{ family: 'Durand', given: ['ÉLISE'] }],
    identifier: [
      { system: 'urn:other', value: '123', type: { coding: [{ system: V2, code: 'DL' }] } },
    ],
    gender: 'female',
  },
  { resourceType: 'Patient', id: 'mullerson', name: [{ family: 'Mullerson' }] },
  {
    resourceType: 'Patient',
    id: 'smith',
    name: [{ family: 'Smith', given: ['Jean-Pierre'], prefix: ['Dr'] }],
    address: [{ use: 'home', type: 'postal', line: ['1 Rue de la Paix'], city: 'Paris' }],
    identifier: [{ system: 'urn:mrn', value: '456' }],
    active: true,
    gender: 'male',
  },
  { resourceType: 'Patient', id: 'comma', name: [{ family: 'Doe,Jr' }], gender: 'other' },
  { resourceType: 'Patient', id: 'wild', name: [{ family: 'M_ller%' }] },
  { resourceType: 'Patient', id: 'noname', gender: 'unknown' },
];
const ALL = patients.map((p) => p.id!);

const LOINC = 'http://loinc.org';
const observations: Observation[] = [
  {
    resourceType: 'Observation',
    id: 'sys',
    status: 'final',
    code: {
      coding: [{ system: LOINC, code: '8480-6', display: 'Systolic blood pressure' }],
      text: 'BP systolic',
    },
  },
  {
    resourceType: 'Observation',
    id: 'local',
    status: 'final',
    code: { coding: [{ code: '8480-6' }] },
  },
  {
    resourceType: 'Observation',
    id: 'other-system',
    status: 'preliminary',
    code: { coding: [{ system: 'http://acme.org/codes', code: '8480-6' }] },
  },
  { resourceType: 'Observation', id: 'text-only', status: 'final', code: { text: 'Weight' } },
];

beforeAll(async () => {
  s = await startSearchApi();
  await s.put(...patients, ...observations);
});
afterAll(() => s?.server.close());

const q = (path: string) => s.ids(path);

describe('string', () => {
  it.each<[string, string[]]>([
    // starts-with, folding case and accents on both sides
    ['family=muller', ['mueller', 'muller', 'mullerson']],
    ['family=MÜLLER', ['mueller', 'muller', 'mullerson']],
    ['family=Mülle', ['mueller', 'muller', 'mullerson']],
    ['family=ller', []],
    ['given=elise', ['elise']],
    ['given=Élise', ['elise']],
    ['given=jean-p', ['smith']],
    // name covers family, given, prefix, text; not the name's use
    ['name=dr', ['smith']],
    ['name=hans', ['mueller']],
    ['name=official', []],
    // address covers lines, city, etc; not its use or type
    ['address=paris', ['smith']],
    ['address=1%20rue', ['smith']],
    ['address=home', []],
    ['address=postal', []],
    ['address-city=PAR', ['smith']],
    // :exact is case and accent sensitive, whole value
    ['family:exact=Müller', ['mueller']],
    ['family:exact=Muller', ['muller']],
    ['family:exact=muller', []],
    ['family:exact=Mülle', []],
    // :contains anywhere, folded
    ['family:contains=LLER', ['mueller', 'muller', 'mullerson', 'wild']],
    ['name:contains=son', ['mullerson']],
    ['given:contains=LIS', ['elise']],
    // LIKE wildcards in the value are literal
    ['family=m_ller', ['wild']],
    ['family=m%25ller', []],
    ['family=m_ller%25', ['wild']],
    ['family:contains=%25', ['wild']],
    // OR, AND, escaped comma
    ['family=mul,smi', ['mueller', 'muller', 'mullerson', 'smith']],
    ['family=mul&given=anna', ['muller']],
    ['family:exact=Doe\\,Jr', ['comma']],
    ['family:exact=Doe,Jr', []],
    ['family=doe\\,j', ['comma']],
  ])('Patient?%s', async (query, expected) => {
    expect(await q(`/Patient?${query.replace(/\\/g, '%5C')}`)).toEqual(sorted(expected));
  });

  it(':missing', async () => {
    expect(await q('/Patient?name:missing=true')).toEqual(['noname']);
    expect(await q('/Patient?name:missing=false')).toEqual(
      sorted(ALL.filter((i) => i !== 'noname')),
    );
    expect(await q('/Patient?address:missing=false')).toEqual(['smith']);
  });
});

describe('token', () => {
  it.each<[string, string[]]>([
    ['identifier=urn:mrn|123', ['mueller']],
    ['identifier=123', ['mueller', 'muller', 'elise']],
    ['identifier=|123', ['muller']],
    ['identifier=urn:mrn|', ['mueller', 'smith']],
    ['identifier=urn:mrn|123,urn:other|123', ['mueller', 'elise']],
    ['identifier=urn:mrn|123&identifier=123', ['mueller']],
    ['identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|123', ['mueller']],
    ['identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|DL|123', ['elise']],
    ['identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|456', []],
    ['identifier:text=medical', ['mueller']],
    ['gender=male', ['mueller', 'smith']],
    ['gender=male,female', ['mueller', 'muller', 'elise', 'smith']],
    ['gender=MALE', []],
    ['active=true', ['mueller', 'smith']],
    ['active=false', ['muller']],
    ['active:missing=true', ['elise', 'mullerson', 'comma', 'wild', 'noname']],
    ['email=hans@example.org', ['mueller']],
    ['telecom=hans@example.org', ['mueller']],
    ['_id=smith,noname', ['noname', 'smith']],
    ['_id:not=smith,noname', ALL.filter((i) => i !== 'smith' && i !== 'noname')],
  ])('Patient?%s', async (query, expected) => {
    expect(await q(`/Patient?${query}`)).toEqual(sorted(expected));
  });

  it(':not excludes the code and includes resources without any value', async () => {
    expect(await q('/Patient?gender:not=male')).toEqual(
      sorted(ALL.filter((i) => i !== 'mueller' && i !== 'smith')),
    );
    // :not with OR: neither value
    expect(await q('/Patient?gender:not=male,female')).toEqual(
      sorted(['mullerson', 'comma', 'wild', 'noname']),
    );
    expect(await q('/Patient?active:not=true')).toEqual(
      sorted(ALL.filter((i) => i !== 'mueller' && i !== 'smith')),
    );
  });

  it.each<[string, string[]]>([
    ['code=http://loinc.org|8480-6', ['sys']],
    ['code=8480-6', ['sys', 'local', 'other-system']],
    ['code=|8480-6', ['local']],
    ['code=http://loinc.org|', ['sys']],
    ['code=http://acme.org/codes|8480-6,http://loinc.org|8480-6', ['sys', 'other-system']],
    ['code:not=http://loinc.org|8480-6', ['local', 'other-system', 'text-only']],
    // :text searches CodeableConcept.text and Coding.display
    ['code:text=systolic', ['sys']],
    ['code:text=bp', ['sys']],
    ['code:text=weight', ['text-only']],
    ['code:missing=true', []],
    ['status=final', ['sys', 'local', 'text-only']],
    ['status:not=final', ['other-system']],
  ])('Observation?%s', async (query, expected) => {
    expect(await q(`/Observation?${query}`)).toEqual(sorted(expected));
  });
});
