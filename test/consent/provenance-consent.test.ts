import type { Bundle, FhirResource, Observation, Provenance } from 'fhir/r4.js';
import jose from 'node-jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer } from '../auth/auth-helpers.js';
import { startTestChain, type TestChain } from '../support/test-chain.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import {
  type ConsentWorld,
  classes,
  consentFor,
  consentWorld,
  ISSUER,
  purposes,
  recipient,
} from './consent-support.js';

/**
 * A Provenance is the data of the patients of its targets: the server's Provenance of
 * Observation/x/_history/1 of patient A tells that the Observation exists and when it was
 * written, so without A's consent it is invisible on every read path.
 */
let chain: TestChain;
let server: TestServer;
let world: ConsentWorld;
const id = {} as Record<
  'dr' | 'colleague' | 'a' | 'obs' | 'provObs' | 'provBoth' | 'provGhost' | 'provProv',
  string
>;
let asDr: string;

const post = async (resource: FhirResource) =>
  (await server.api.post(`/${resource.resourceType}`).send(resource).expect(201)).body.id as string;
const observation = (patient: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'blood pressure' },
  subject: { reference: `Patient/${patient}` },
});
/** The server's Provenance naming `target` (as the custodian sees it). */
async function provenanceOf(target: string): Promise<string> {
  const res = await server.api.get(`/Provenance?target=${target}`).expect(200);
  const found = (res.body as Bundle).entry ?? [];
  expect(found).toHaveLength(1);
  return found[0]!.resource!.id!;
}
const provenance = (targets: string[]): Provenance => ({
  resourceType: 'Provenance',
  target: targets.map((reference) => ({ reference })),
  recorded: '2024-01-01T00:00:00Z',
  agent: [{ who: { reference: 'Organization/lab' } }],
});
const entries = (bundle: Bundle) =>
  (bundle.entry ?? [])
    .filter((e) => e.resource)
    .map((e) => `${e.resource!.resourceType}/${e.resource!.id}`)
    .sort();

beforeAll(async () => {
  chain = await startTestChain();
  const idpKey = await jose.JWK.createKey('RSA', 2048, { alg: 'RS256', kid: 'idp-1' });
  server = await startTestServer({ ledger: chain.ledgerConfig() }, undefined, {
    issuers: [{ issuer: ISSUER, jwks: { keys: [idpKey.toJSON()] } }],
  });
  world = await consentWorld(server, chain, idpKey);
  id.dr = await post({ resourceType: 'Practitioner', name: [{ family: 'Curious' }] });
  id.a = await post({ resourceType: 'Patient', name: [{ family: 'Private' }] });
  id.obs = await post(observation(id.a));
  id.provObs = await provenanceOf(`Observation/${id.obs}`);
  // One transaction, one Provenance: its targets are a Practitioner (nobody's data) and A's
  // Observation, so it is A's data.
  const tx = await server.api
    .post('/')
    .send({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:6f0f3c1e-0000-4000-8000-000000000001',
          resource: { resourceType: 'Practitioner', name: [{ family: 'Colleague' }] },
          request: { method: 'POST', url: 'Practitioner' },
        },
        {
          fullUrl: 'urn:uuid:6f0f3c1e-0000-4000-8000-000000000002',
          resource: observation(id.a),
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    })
    .expect(200);
  id.colleague = (tx.body as Bundle).entry![0]!.response!.location!.split('/')[1]!;
  id.provBoth = await provenanceOf(`Practitioner/${id.colleague}`);
  // A Provenance whose target was never stored: whose data it is cannot be told.
  id.provGhost = await post(provenance(['Observation/never-stored']));
  // A Provenance of the Provenance of A's Observation is A's data too.
  id.provProv = await post(provenance([`Provenance/${id.provObs}`]));
  asDr = await world.token({
    sub: 'dr-curious',
    scope: 'user/*.rs',
    fhirUser: `Practitioner/${id.dr}`,
    purpose_of_use: 'TREAT',
  });
}, 120_000);
afterAll(async () => {
  await server?.close();
  await chain?.stop();
});

/** Everything a caller can learn of A's Observation through Provenances, path by path. */
async function seen(token: string) {
  const get = (path: string) => world.get(path, token);
  const status = async (path: string) => (await get(path)).status;
  const bundle = async (path: string) => {
    const res = await get(path).expect(200);
    return res.body as Bundle;
  };
  const bySearch = await bundle(`/Provenance?target=Observation/${id.obs}&_total=accurate`);
  const byId = await bundle(`/Provenance?_id=${id.provObs},${id.provBoth},${id.provProv}`);
  const revinclude = await bundle(
    `/Practitioner?_id=${id.colleague}&_revinclude=Provenance:target`,
  );
  const typeHistory = await bundle('/Provenance/_history?_count=1000');
  const systemHistory = await bundle('/_history?_count=1000');
  return {
    read: await status(`/Provenance/${id.provObs}`),
    vread: await status(`/Provenance/${id.provObs}/_history/1`),
    readBoth: await status(`/Provenance/${id.provBoth}`),
    readOfProvenance: await status(`/Provenance/${id.provProv}`),
    instanceHistory: await status(`/Provenance/${id.provObs}/_history`),
    verify: await status(`/Provenance/${id.provObs}/_history/1/$verify`),
    search: entries(bySearch),
    total: bySearch.total,
    byId: entries(byId),
    revinclude: entries(revinclude),
    typeHistory: entries(typeHistory).filter((r) => r !== `Provenance/${id.provGhost}`),
    inSystemHistory: entries(systemHistory).filter((r) =>
      [id.provObs, id.provBoth].some((p) => r === `Provenance/${p}`),
    ),
  };
}

describe('a Provenance is the data of its targets’ patients', () => {
  it('without a grant it is invisible on read, vread, search, _revinclude, history and $verify', async () => {
    const view = await seen(asDr);
    expect(view).toEqual({
      read: 404,
      vread: 404,
      readBoth: 404,
      readOfProvenance: 404,
      instanceHistory: 404,
      verify: 404,
      search: [],
      total: 0,
      byId: [],
      revinclude: [`Practitioner/${id.colleague}`],
      typeHistory: expect.not.arrayContaining([
        `Provenance/${id.provObs}`,
        `Provenance/${id.provBoth}`,
      ]),
      inSystemHistory: [],
    });
    // The Practitioner's own Provenance (not patient data) stays visible to anyone.
    const own = await provenanceOf(`Practitioner/${id.dr}`);
    await world.get(`/Provenance/${own}`, asDr).expect(200);
  });

  it('a target never stored makes it unidentifiable: custodians only', async () => {
    await world.get(`/Provenance/${id.provGhost}`, asDr).expect(404);
    await server.api.get(`/Provenance/${id.provGhost}`).expect(200);
  });

  it('the custodian sees them all', async () => {
    const view = await seen(server.token);
    expect(view.read).toBe(200);
    expect(view.readBoth).toBe(200);
    expect(view.readOfProvenance).toBe(200);
    expect(view.verify).toBe(200);
    expect(view.search).toEqual([`Provenance/${id.provObs}`]);
    expect(view.revinclude).toEqual(
      [`Practitioner/${id.colleague}`, `Provenance/${id.provBoth}`].sort(),
    );
  });

  it('with a grant for Provenance from patient A, it is visible on every path', async () => {
    await world.grant(
      consentFor(id.a, {
        type: 'permit',
        actor: [recipient(`Practitioner/${id.dr}`)],
        class: classes('Provenance'),
        purpose: purposes('TREAT'),
      }),
    );
    const view = await seen(asDr);
    expect(view).toEqual({
      read: 200,
      vread: 200,
      readBoth: 200,
      readOfProvenance: 200,
      instanceHistory: 200,
      verify: 200,
      search: [`Provenance/${id.provObs}`],
      total: 1,
      byId: [
        `Provenance/${id.provBoth}`,
        `Provenance/${id.provObs}`,
        `Provenance/${id.provProv}`,
      ].sort(),
      revinclude: [`Practitioner/${id.colleague}`, `Provenance/${id.provBoth}`].sort(),
      typeHistory: expect.arrayContaining([
        `Provenance/${id.provObs}`,
        `Provenance/${id.provBoth}`,
      ]),
      inSystemHistory: [`Provenance/${id.provBoth}`, `Provenance/${id.provObs}`].sort(),
    });
    // The grant is for Provenance only: the Observation itself stays hidden.
    await world.get(`/Observation/${id.obs}`, asDr).expect(404);
    await world.get(`/Provenance/${id.provGhost}`, asDr).expect(404);
  });

  it('a search or history looks the targets up per page, not per Provenance', async () => {
    for (let i = 0; i < 30; i++) await post(observation(id.a));
    const pool = server.services.db.pool;
    const query = pool.query.bind(pool);
    let lookups = 0;
    // Counts the real queries (nothing is replaced): the target lookup's statement.
    pool.query = ((...args: Parameters<typeof pool.query>) => {
      if (typeof args[0] === 'string' && args[0].includes('DISTINCT ON (v.resource_type, v.id)'))
        lookups++;
      return query(...args);
    }) as typeof pool.query;
    const lookupsOf = async (search: () => Promise<unknown>) => {
      lookups = 0;
      await search();
      return lookups;
    };
    try {
      const filtered = await lookupsOf(async () => {
        const res = await world.get('/Provenance?_count=100&_total=accurate', asDr).expect(200);
        expect((res.body as Bundle).total).toBeGreaterThanOrEqual(32);
      });
      expect(filtered).toBeGreaterThan(0);
      expect(filtered).toBeLessThanOrEqual(2);
      // The custodian is not filtered, but its decisions are recorded per returned resource
      // (for the audit): the page is looked up at once too.
      const custodian = await lookupsOf(() => server.api.get('/Provenance?_count=100').expect(200));
      expect(custodian).toBeGreaterThan(0);
      expect(custodian).toBeLessThanOrEqual(2);
      const history = await lookupsOf(() =>
        server.api.get('/Provenance/_history?_count=100').expect(200),
      );
      expect(history).toBeLessThanOrEqual(2);
    } finally {
      pool.query = query;
    }
  });

  it('writing a Provenance of A’s Observation needs A’s consent to write, like writing into A’s record', async () => {
    const writer = (sub: string, dr: string) =>
      world.token({
        sub,
        scope: 'user/*.cruds',
        fhirUser: `Practitioner/${dr}`,
        purpose_of_use: 'TREAT',
      });
    const stranger = await post({ resourceType: 'Practitioner', name: [{ family: 'Stranger' }] });
    const asStranger = await writer('stranger', stranger);
    const write = (token: string, targets: string[]) =>
      request(server.base).post('/Provenance').set(bearer(token)).send(provenance(targets));
    const before = (await server.api.get('/Provenance?_summary=count').expect(200)).body.total;
    await write(asStranger, [`Observation/${id.obs}`]).expect(403);
    await write(asStranger, ['Observation/never-stored']).expect(403);
    expect((await server.api.get('/Provenance?_summary=count').expect(200)).body.total).toBe(
      before,
    );
    // Not patient data: anyone with the scope writes it.
    await write(asStranger, [`Practitioner/${stranger}`]).expect(201);
    // Dr Curious's grant names no action: it permits writing too.
    await write(await writer('dr-curious-writer', id.dr), [`Observation/${id.obs}`]).expect(201);
  });
});
