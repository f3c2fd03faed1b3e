import type { Bundle } from 'fhir/r4.js';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, getToken, makeClient } from '../auth/auth-helpers.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { linkPath, matches } from './search-helpers.js';

/**
 * A search over several types pages by type and id: with types sharing ids, every visible
 * resource appears on exactly one page, also when a filter (here a granular scope) decides
 * each candidate, which takes the filtered paths (first page and total in one pass).
 */
let server: TestServer;
let restricted: string;
const IDS = ['s1', 's2', 's3', 's4', 's5'];

beforeAll(async () => {
  const client = await makeClient('female-patients-and-practitioners');
  const scope = 'system/Patient.rs?gender=female system/Practitioner.rs';
  server = await startTestServer({}, undefined, {
    clients: [{ clientId: client.clientId, jwks: client.jwks, scope }],
  });
  restricted = await getToken(server.base, client, scope);
  for (const [n, id] of IDS.entries()) {
    for (const resource of [
      { resourceType: 'Patient', id, gender: n % 2 ? 'male' : 'female' },
      { resourceType: 'Practitioner', id, name: [{ family: `Doctor ${id}` }] },
    ]) {
      await server.api
        .put(`/${resource.resourceType}/${id}`)
        .set('Content-Type', 'application/fhir+json')
        .send(resource)
        .expect(201);
    }
  }
});
afterAll(() => server?.close());

const ref = (e: { resource?: { resourceType: string; id?: string } }) =>
  `${e.resource!.resourceType}/${e.resource!.id}`;

async function pageThrough(
  query: string,
  token?: string,
): Promise<{ seen: string[]; total?: number }> {
  const get = (path: string) =>
    token ? request(server.base).get(path).set(bearer(token)) : server.api.get(path);
  const seen: string[] = [];
  let next: string | undefined = query;
  let total: number | undefined;
  while (next) {
    const res = await get(next).expect(200);
    const bundle = res.body as Bundle;
    total ??= bundle.total;
    expect(matches(bundle).length).toBeLessThanOrEqual(1);
    seen.push(...matches(bundle).map(ref));
    next = linkPath(bundle, 'next', server.base);
    expect(seen.length).toBeLessThan(30);
  }
  return { seen, total };
}

describe('_type=Patient,Practitioner with shared ids, one resource per page', () => {
  it.each(['', '&_sort=_id', '&_sort=-_lastUpdated'])(
    'unfiltered%s: every resource exactly once',
    async (sort) => {
      const { seen, total } = await pageThrough(`/?_type=Patient,Practitioner&_count=1${sort}`);
      const all = IDS.flatMap((id) => [`Patient/${id}`, `Practitioner/${id}`]).sort();
      expect([...seen].sort()).toEqual(all);
      expect(total).toBe(all.length);
    },
  );

  it.each(['', '&_sort=-_id'])(
    'filtered by a scope%s: every visible resource exactly once',
    async (sort) => {
      const { seen, total } = await pageThrough(
        `/?_type=Patient,Practitioner&_count=1${sort}`,
        restricted,
      );
      const visible = [
        ...IDS.filter((_, n) => n % 2 === 0).map((id) => `Patient/${id}`),
        ...IDS.map((id) => `Practitioner/${id}`),
      ].sort();
      expect([...seen].sort()).toEqual(visible);
      expect(total).toBe(visible.length);
    },
  );
});
