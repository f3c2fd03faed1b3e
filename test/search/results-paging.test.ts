import type { Bundle, Patient } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkPath, matches, type SearchApi, sorted, startSearchApi } from './search-helpers.js';

/**
 * Result parameters: _sort (several keys, descending, ties, missing values),
 * _count and paging by next/previous links (also while data changes), _total,
 * _summary, _elements, POST _search, system search, lenient/strict handling.
 */
let s: SearchApi;

// 23 patients: families in 4 groups (ties), birth dates with repeats and gaps
const FAMILIES = ['Adams', 'Baker', 'baker', 'Clark'];
const people: Patient[] = Array.from({ length: 23 }, (_, i) => ({
  resourceType: 'Patient',
  id: `p${String(i).padStart(2, '0')}`,
  name: [{ family: FAMILIES[i % 4] }],
  ...(i % 5 === 0 ? {} : { birthDate: `19${70 + (i % 7)}-01-01` }),
  gender: i % 2 ? 'female' : 'male',
  maritalStatus: { text: 'unknown' },
  text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">p${i}</div>` },
}));

beforeAll(async () => {
  s = await startSearchApi();
  await s.put(...people);
});
afterAll(() => s?.server.close());

const ids = (b: Bundle) => matches(b).map((e) => e.resource!.id!);

/** Follows next links from `path`, returning every page's ids. */
async function allPages(path: string): Promise<{ pages: string[][]; last: Bundle }> {
  const pages: string[][] = [];
  let next: string | undefined = path;
  let last!: Bundle;
  while (next) {
    last = await s.bundle(next);
    pages.push(ids(last));
    next = linkPath(last, 'next', s.server.base);
    expect(pages.length).toBeLessThan(50);
  }
  return { pages, last };
}

// Expected orders computed independently in JS: family folded for case, birthdate, id.
const family = (p: Patient) => p.name![0]!.family!.toLowerCase();
const byFamilyThenBirthDesc = [...people]
  .sort(
    (a, b) =>
      family(a).localeCompare(family(b)) ||
      // descending with missing values last
      (a.birthDate === b.birthDate
        ? 0
        : a.birthDate === undefined
          ? 1
          : b.birthDate === undefined
            ? -1
            : b.birthDate.localeCompare(a.birthDate)) ||
      a.id!.localeCompare(b.id!),
  )
  .map((p) => p.id!);

describe('_sort', () => {
  it('sorts by several keys, "-" descending, ties broken by id, missing values last', async () => {
    const b = await s.bundle('/Patient?_sort=family,-birthdate&_count=100');
    expect(ids(b)).toEqual(byFamilyThenBirthDesc);
  });

  it('ascending birthdate puts missing values last too', async () => {
    const b = await s.bundle('/Patient?_sort=birthdate,_id&_count=100');
    const expected = [...people]
      .sort(
        (a, c) =>
          (a.birthDate ?? '9999').localeCompare(c.birthDate ?? '9999') ||
          a.id!.localeCompare(c.id!),
      )
      .map((p) => p.id!);
    expect(ids(b)).toEqual(expected);
  });

  it('-_id sorts by id descending', async () => {
    const b = await s.bundle('/Patient?_sort=-_id&_count=5');
    expect(ids(b)).toEqual(['p22', 'p21', 'p20', 'p19', 'p18']);
  });
});

describe('paging', () => {
  it('next links walk every page once; previous links walk back to the first', async () => {
    const { pages, last } = await allPages('/Patient?_sort=family,-birthdate&_count=5');
    expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 5, 3]);
    expect(pages.flat()).toEqual(byFamilyThenBirthDesc);
    expect(last.total).toBe(23);
    // back again
    const back: string[][] = [];
    let prev = linkPath(last, 'previous', s.server.base);
    while (prev) {
      const b = await s.bundle(prev);
      back.unshift(ids(b));
      prev = linkPath(b, 'previous', s.server.base);
      expect(back.length).toBeLessThan(10);
    }
    expect(back).toEqual(pages.slice(0, -1));
  });

  it('the first page has no previous link and the last no next link', async () => {
    const first = await s.bundle('/Patient?_count=10');
    expect(linkPath(first, 'previous', s.server.base)).toBeUndefined();
    expect(first.link?.find((l) => l.relation === 'self')?.url).toContain('_count=10');
    const all = await s.bundle('/Patient?_count=23');
    expect(linkPath(all, 'next', s.server.base)).toBeUndefined();
  });

  it('pages stay consistent for existing rows while resources are added and changed', async () => {
    const first = await s.bundle('/Patient?gender=male&_sort=family&_count=4');
    const before = ids(first);
    // add matches that sort before and after the cursor, and update one not yet seen
    await s.put(
      { resourceType: 'Patient', id: 'new-a', name: [{ family: 'Aardvark' }], gender: 'male' },
      { resourceType: 'Patient', id: 'new-z', name: [{ family: 'Zulu' }], gender: 'male' },
    );
    const rest = await allPages(linkPath(first, 'next', s.server.base)!);
    const seen = [...before, ...rest.pages.flat()];
    const males = people.filter((p) => p.gender === 'male').map((p) => p.id!);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of males) expect(seen).toContain(id);
    expect(seen).not.toContain('new-a'); // sorts before the cursor
    expect(seen[seen.length - 1]).toBe('new-z');
    await s.api.delete('/Patient/new-a');
    await s.api.delete('/Patient/new-z');
  });

  it('_count=0 gives the total only', async () => {
    const b = await s.bundle('/Patient?_count=0');
    expect(b.total).toBe(23);
    expect(matches(b)).toEqual([]);
  });

  it('a tampered cursor is refused', async () => {
    await s.api.get('/Patient?_cursor=not-a-cursor').expect(400);
  });
});

describe('_total, _summary, _elements', () => {
  it('_total=none leaves the total out; accurate counts all matches', async () => {
    expect((await s.bundle('/Patient?_total=none&_count=2')).total).toBeUndefined();
    expect((await s.bundle('/Patient?_total=accurate&_count=2')).total).toBe(23);
    expect((await s.bundle('/Patient?gender=female&_count=2')).total).toBe(11);
  });

  it('_summary=count gives the total and no entries', async () => {
    const b = await s.bundle('/Patient?gender=male&_summary=count');
    expect(b.total).toBe(12);
    expect(b.entry ?? []).toEqual([]);
  });

  it('_summary=true keeps summary elements, drops the rest, and tags SUBSETTED', async () => {
    const b = await s.bundle('/Patient?_id=p01&_summary=true');
    const p = matches(b)[0]!.resource as Patient;
    expect(p.name).toEqual([{ family: 'Baker' }]);
    expect(p.gender).toBe('female');
    expect(p.birthDate).toBe('1971-01-01');
    expect(p.maritalStatus).toBeUndefined();
    expect(p.text).toBeUndefined();
    expect(p.meta?.tag).toContainEqual(expect.objectContaining({ code: 'SUBSETTED' }));
  });

  it('_summary=text keeps text, id and meta; _summary=data drops only text', async () => {
    const text = matches(await s.bundle('/Patient?_id=p01&_summary=text'))[0]!.resource as Patient;
    expect(Object.keys(text).sort()).toEqual(['id', 'meta', 'resourceType', 'text']);
    const data = matches(await s.bundle('/Patient?_id=p01&_summary=data'))[0]!.resource as Patient;
    expect(data.text).toBeUndefined();
    expect(data.maritalStatus).toEqual({ text: 'unknown' });
  });

  it('_elements keeps the listed elements plus id and meta', async () => {
    const b = await s.bundle('/Patient?_id=p01&_elements=gender,birthDate');
    const p = matches(b)[0]!.resource as Patient;
    expect(Object.keys(p).sort()).toEqual(['birthDate', 'gender', 'id', 'meta', 'resourceType']);
  });
});

describe('GET, POST _search and system search', () => {
  it('POST [type]/_search with a form body gives the same result as GET', async () => {
    const get = await s.bundle('/Patient?family=baker&_sort=-_id&_count=3');
    const post = await s.api
      .post('/Patient/_search')
      .type('form')
      .send('family=baker&_sort=-_id&_count=3')
      .expect(200);
    expect(ids(post.body)).toEqual(ids(get));
    expect(post.body.total).toBe(get.total);
  });

  it('GET [base]?_type=... searches several types', async () => {
    await s.put({
      resourceType: 'Observation',
      id: 'p01',
      status: 'final',
      code: { text: 'same id as a patient' },
    });
    const b = await s.bundle('/?_type=Patient,Observation&_id=p01,p02');
    expect(
      matches(b)
        .map((e) => `${e.resource!.resourceType}/${e.resource!.id}`)
        .sort(),
    ).toEqual(['Observation/p01', 'Patient/p01', 'Patient/p02']);
    expect(b.total).toBe(3);
    const only = await s.bundle('/?_type=Observation&_id=p01,p02');
    expect(only.total).toBe(1);
  });

  it('pages a search over several types exactly once per resource when types share ids', async () => {
    const shared = ['p03', 'p04', 'p05'];
    await s.put(
      ...shared.map((id) => ({
        resourceType: 'Practitioner' as const,
        id,
        name: [{ family: `Doctor ${id}` }],
      })),
      { resourceType: 'Practitioner', id: 'p035', name: [{ family: 'Between' }] },
    );
    const expected = [
      ...shared.map((id) => `Patient/${id}`),
      ...[...shared, 'p035'].map((id) => `Practitioner/${id}`),
    ].sort();
    for (const sort of ['', '&_sort=_id', '&_sort=-_id']) {
      const query = `/?_type=Patient,Practitioner&_id=${[...shared, 'p035'].join(',')}&_count=1${sort}`;
      const seen: string[] = [];
      let next: string | undefined = query;
      let last!: Bundle;
      while (next) {
        last = await s.bundle(next);
        expect(matches(last).length, query).toBeLessThanOrEqual(1);
        seen.push(...matches(last).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`));
        next = linkPath(last, 'next', s.server.base);
        expect(seen.length).toBeLessThan(20);
      }
      expect(seen.sort(), query).toEqual(expected);
      expect(last.total).toBe(expected.length);
      // and back again through the previous links
      const back: string[] = [];
      let previous = linkPath(last, 'previous', s.server.base);
      while (previous) {
        const page = await s.bundle(previous);
        back.push(...matches(page).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`));
        previous = linkPath(page, 'previous', s.server.base);
        expect(back.length).toBeLessThan(20);
      }
      expect(
        [
          ...back,
          ...matches(last).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`),
        ].sort(),
        query,
      ).toEqual(expected);
    }
  });
});

describe('unknown and malformed parameters', () => {
  it('lenient (default): unknown parameters are ignored and reported in an outcome entry', async () => {
    const b = await s.bundle('/Patient?foo=bar&gender=female');
    expect(b.total).toBe(11);
    const outcome = (b.entry ?? []).filter((e) => e.search?.mode === 'outcome');
    expect(outcome).toHaveLength(1);
    expect(JSON.stringify(outcome[0]!.resource)).toContain('foo');
    const self = b.link?.find((l) => l.relation === 'self')?.url ?? '';
    expect(self).not.toContain('foo');
  });

  it('strict: unknown parameters and modifiers are a 400 OperationOutcome', async () => {
    for (const query of ['foo=bar', 'gender:exact=male', 'family:below=x', '_sort=nothing']) {
      const res = await s.api.get(`/Patient?${query}`).set('Prefer', 'handling=strict');
      expect(res.status, query).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
  });

  it.each([
    'birthdate=2020-13',
    'birthdate=2020-02-30',
    'birthdate=xx2020',
    'birthdate=ge',
    '_count=abc',
    'general-practitioner:missing=maybe',
  ])('strict: malformed %s is a 400', async (query) => {
    const res = await s.api.get(`/Patient?${query}`).set('Prefer', 'handling=strict');
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('strict: a malformed number or quantity is a 400', async () => {
    for (const query of ['RiskAssessment?probability=abc', 'Observation?value-quantity=gtx']) {
      const res = await s.api.get(`/${query}`).set('Prefer', 'handling=strict');
      expect(res.status, query).toBe(400);
    }
  });

  it('lenient: a malformed value is ignored and reported like an unknown parameter', async () => {
    const b = await s.bundle('/Patient?birthdate=2020-13&gender=female');
    expect(b.total).toBe(11);
    const outcome = (b.entry ?? []).find((e) => e.search?.mode === 'outcome');
    expect(JSON.stringify(outcome?.resource)).toContain('birthdate');
  });
});

describe('ids used in expectations', () => {
  it('the data set is what the tests above assume', () => {
    expect(sorted(people.map((p) => p.id!))).toHaveLength(23);
    expect(people.filter((p) => p.gender === 'female')).toHaveLength(11);
  });
});
