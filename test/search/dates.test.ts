import type { Observation, Period } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SearchApi, sorted, startSearchApi } from './search-helpers.js';

/**
 * Date search with range semantics (R4 search §3.1.1.4.2 / date): the search
 * value and the resource value are ranges at their precision; eq = the search
 * range contains the value, gt/lt = the value reaches above/below it, ge/le = gt/lt
 * or eq, sa/eb = the value lies entirely after/before it. Each resource below
 * sits on a boundary so that an off-by-one in any prefix changes the result.
 */
let s: SearchApi;

const obs = (id: string, effective: string | Period | undefined): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { text: 'date test' },
  ...(typeof effective === 'string' ? { effectiveDateTime: effective } : {}),
  ...(typeof effective === 'object' ? { effectivePeriod: effective } : {}),
});

// UTC ranges covered, as comments: [low, high)
const DATA: Array<[string, string | Period | undefined]> = [
  ['year', '2020'], // [2020-01-01, 2021-01-01)
  ['month', '2020-03'], // [2020-03-01, 2020-04-01)
  ['day', '2020-03-15'], // [03-15, 03-16)
  ['second', '2020-03-15T10:30:15Z'], // [10:30:15, 10:30:16)
  ['milli', '2020-03-15T10:30:15.250Z'], // [.250, .251)
  ['tz', '2020-03-15T23:30:00-05:00'], // 2020-03-16T04:30:00Z: the next day in UTC
  ['p-closed', { start: '2020-03-10', end: '2020-03-20' }], // [03-10, 03-21)
  ['p-open-end', { start: '2020-03-15T00:00:00Z' }], // [03-15, infinity)
  ['p-open-start', { end: '2020-03-14' }], // [-infinity, 03-15)
  ['p-in-day', { start: '2020-03-15T08:00:00Z', end: '2020-03-15T09:00:00Z' }],
  ['p-across', { start: '2020-03-14T22:00:00Z', end: '2020-03-15T02:00:00Z' }],
  ['y2019', '2019-12-31T23:59:59Z'],
  ['y2021', '2021-01-01T00:00:00Z'],
  ['y2010', '2010-06-01'],
  ['none', undefined],
];
const WITH_VALUE = DATA.filter(([, v]) => v !== undefined).map(([id]) => id);

beforeAll(async () => {
  s = await startSearchApi();
  await s.put(...DATA.map(([id, v]) => obs(id, v)));
});
afterAll(() => s?.server.close());

const search = (value: string) => s.ids(`/Observation?date=${encodeURIComponent(value)}`);

describe('date prefixes against one day (2020-03-15), on dateTime and Period values', () => {
  const cases: Array<[string, string[]]> = [
    ['2020-03-15', ['day', 'second', 'milli', 'p-in-day']],
    ['eq2020-03-15', ['day', 'second', 'milli', 'p-in-day']],
    [
      'ne2020-03-15',
      WITH_VALUE.filter((id) => !['day', 'second', 'milli', 'p-in-day'].includes(id)),
    ],
    ['gt2020-03-15', ['year', 'month', 'tz', 'p-closed', 'p-open-end', 'y2021']],
    ['lt2020-03-15', ['year', 'month', 'p-closed', 'p-open-start', 'p-across', 'y2019', 'y2010']],
    [
      'ge2020-03-15',
      [
        'year',
        'month',
        'tz',
        'p-closed',
        'p-open-end',
        'y2021',
        'day',
        'second',
        'milli',
        'p-in-day',
      ],
    ],
    [
      'le2020-03-15',
      [
        'year',
        'month',
        'p-closed',
        'p-open-start',
        'p-across',
        'y2019',
        'y2010',
        'day',
        'second',
        'milli',
        'p-in-day',
      ],
    ],
    ['sa2020-03-15', ['tz', 'y2021']],
    ['eb2020-03-15', ['p-open-start', 'y2019', 'y2010']],
  ];
  it.each(cases)('date=%s', async (value, expected) => {
    expect(await search(value)).toEqual(sorted(expected));
  });
});

describe('date prefixes against a year (2020)', () => {
  const in2020 = [
    'year',
    'month',
    'day',
    'second',
    'milli',
    'tz',
    'p-closed',
    'p-in-day',
    'p-across',
  ];
  it.each<[string, string[]]>([
    ['2020', in2020],
    ['ne2020', ['p-open-end', 'p-open-start', 'y2019', 'y2021', 'y2010']],
    ['gt2020', ['p-open-end', 'y2021']],
    ['lt2020', ['p-open-start', 'y2019', 'y2010']],
    ['ge2020', [...in2020, 'p-open-end', 'y2021']],
    ['le2020', [...in2020, 'p-open-start', 'y2019', 'y2010']],
    ['sa2020', ['y2021']],
    ['eb2020', ['y2019', 'y2010']],
  ])('date=%s', async (value, expected) => {
    expect(await search(value)).toEqual(sorted(expected));
  });
});

describe('date precision of the search value', () => {
  it.each<[string, string[]]>([
    ['2020-03', ['month', 'day', 'second', 'milli', 'tz', 'p-closed', 'p-in-day', 'p-across']],
    ['2020-03-16', ['tz']],
    ['2020-03-15T10:30', ['second', 'milli']],
    ['2020-03-15T10:30Z', ['second', 'milli']],
    ['2020-03-15T10:30:15Z', ['second', 'milli']],
    ['2020-03-15T10:30:15.250Z', ['milli']],
    ['2020-03-15T10:30:15.251Z', []],
    // the same instant written in other zones
    ['2020-03-15T23:30:00-05:00', ['tz']],
    ['2020-03-16T05:30:00+01:00', ['tz']],
    ['2020-03-16T04:30:00Z', ['tz']],
    ['2020-03-15T23:30:00Z', []],
    // boundaries at second and millisecond precision
    ['gt2020-03-15T10:30:15Z', ['year', 'month', 'day', 'tz', 'p-closed', 'p-open-end', 'y2021']],
    [
      'gt2020-03-15T10:30:15.250Z',
      ['year', 'month', 'day', 'second', 'tz', 'p-closed', 'p-open-end', 'y2021'],
    ],
    [
      'lt2020-03-15T10:30:15.250Z',
      [
        'year',
        'month',
        'day',
        'second',
        'p-closed',
        'p-open-start',
        'p-open-end',
        'p-across',
        'p-in-day',
        'y2019',
        'y2010',
      ],
    ],
    ['sa2020-03-15T10:30:15Z', ['tz', 'y2021']],
    ['eb2019-12-31T23:59:59Z', ['y2010']],
    ['eb2020-01-01T00:00:00Z', ['y2019', 'y2010']],
    ['sa2020-12-31T23:59:59Z', ['y2021']],
  ])('date=%s', async (value, expected) => {
    expect(await search(value)).toEqual(sorted(expected));
  });

  it('a "+" written unencoded in a time zone (decoded as a space) still reads as +', async () => {
    expect(await s.ids('/Observation?date=2020-03-16T05:30:00+01:00')).toEqual(['tz']);
  });
});

describe('ap, AND, OR and :missing on dates', () => {
  it('ap matches values near the date and not those years away', async () => {
    const found = await search('ap2020-03-15');
    // 10% of the distance from today is more than 6 months, so all of these are near
    expect(found).toEqual(
      expect.arrayContaining(['day', 'second', 'tz', 'p-closed', 'p-in-day', 'p-across', 'y2019']),
    );
    expect(found).not.toContain('y2010');
    expect(found).not.toContain('none');
  });

  it('AND of ge and lt gives a window; OR of two days gives their union', async () => {
    expect(await s.ids('/Observation?date=ge2020-03-15&date=lt2020-03-16')).toEqual(
      sorted(['day', 'second', 'milli', 'p-in-day', 'p-open-end', 'p-closed', 'year', 'month']),
    );
    expect(await s.ids('/Observation?date=eb2020-03-15&date=ge2019-12-31')).toEqual(
      sorted(['p-open-start', 'y2019']),
    );
    expect(await s.ids('/Observation?date=2020-03-16,2010')).toEqual(sorted(['tz', 'y2010']));
  });

  it(':missing=true finds the one without a date, :missing=false all others', async () => {
    expect(await s.ids('/Observation?date:missing=true')).toEqual(['none']);
    expect(await s.ids('/Observation?date:missing=false')).toEqual(sorted(WITH_VALUE));
  });
});

describe('date-only elements and _lastUpdated', () => {
  beforeAll(async () => {
    await s.put({ resourceType: 'Patient', id: 'born', birthDate: '1974-12-25' });
  });

  it('a date value is a whole day: found by year, month and day, not by an instant in it', async () => {
    for (const q of [
      '1974',
      '1974-12',
      '1974-12-25',
      'ge1974-12-25',
      'le1974-12-25',
      'sa1974-12-24',
    ])
      expect(await s.ids(`/Patient?birthdate=${q}`), q).toEqual(['born']);
    for (const q of [
      '1974-12-24',
      '1974-12-25T10:00:00Z',
      'gt1974-12-25',
      'lt1974-12-25',
      'sa1974-12-25',
    ])
      expect(await s.ids(`/Patient?birthdate=${encodeURIComponent(q)}`), q).toEqual([]);
  });

  it('_lastUpdated compares with the stored instant', async () => {
    const read = await s.api.get('/Patient/born').expect(200);
    const at = read.body.meta.lastUpdated as string;
    expect(await s.ids(`/Patient?_lastUpdated=${encodeURIComponent(at)}`)).toEqual(['born']);
    expect(await s.ids(`/Patient?_lastUpdated=gt${encodeURIComponent(at)}`)).toEqual([]);
    expect(await s.ids(`/Patient?_lastUpdated=ge${encodeURIComponent(at)}`)).toEqual(['born']);
    expect(await s.ids('/Patient?_lastUpdated=lt2000')).toEqual([]);
    expect(await s.ids('/Patient?_lastUpdated=gt2000')).toEqual(['born']);
  });
});
