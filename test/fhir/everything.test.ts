import type {
  Bundle,
  BundleEntry,
  CapabilityStatement,
  FhirResource,
  Provenance,
} from 'fhir/r4.js';
import jose from 'node-jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, externalToken } from '../auth/auth-helpers.js';
import { linkPath } from '../search/search-helpers.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

/** Patient/[id]/$everything without consent: content, _type, _since, paging, scopes. */
const ISSUER = 'https://ehr.example.org/oauth';
let server: TestServer;
let idpKey: jose.JWK.Key;

const subject = { reference: 'Patient/ev-p' };
const data: FhirResource[] = [
  { resourceType: 'Patient', id: 'ev-p', name: [{ family: 'Everything' }] },
  { resourceType: 'Patient', id: 'ev-q', name: [{ family: 'Other' }] },
  { resourceType: 'Practitioner', id: 'ev-dr', name: [{ family: 'Doctor' }] },
  ...[1, 2, 3, 4, 5].map(
    (n): FhirResource => ({
      resourceType: 'Observation',
      id: `ev-o${n}`,
      status: 'final',
      code: { text: `reading ${n}` },
      subject,
      performer: [{ reference: 'Practitioner/ev-dr' }],
    }),
  ),
  // The same id in two types: paging must neither skip nor repeat either of them.
  { resourceType: 'Observation', id: 'ev-same', status: 'final', code: { text: 'x' }, subject },
  { resourceType: 'Condition', id: 'ev-same', subject, code: { text: 'asthma' } },
  { resourceType: 'Encounter', id: 'ev-e1', status: 'finished', class: { code: 'AMB' }, subject },
  // In the compartment through `performer`, not `subject`.
  {
    resourceType: 'Observation',
    id: 'ev-perf',
    status: 'final',
    code: { text: 'y' },
    subject: { reference: 'Patient/ev-q' },
    performer: [subject],
  },
  {
    resourceType: 'Observation',
    id: 'ev-oq',
    status: 'final',
    code: { text: 'z' },
    subject: { reference: 'Patient/ev-q' },
  },
];
/** What $everything of ev-p returns, but for Provenances (the server's, of ev-p's own writes). */
const EXPECTED = [
  'Condition/ev-same',
  'Encounter/ev-e1',
  'Observation/ev-o1',
  'Observation/ev-o2',
  'Observation/ev-o3',
  'Observation/ev-o4',
  'Observation/ev-o5',
  'Observation/ev-perf',
  'Observation/ev-same',
  'Patient/ev-p',
];

const refs = (bundle: Bundle, mode = 'match') =>
  (bundle.entry ?? [])
    .filter((e) => e.search?.mode === mode)
    .map((e) => `${e.resource!.resourceType}/${e.resource!.id}`);
const withoutProvenance = (list: string[]) => list.filter((r) => !r.startsWith('Provenance/'));

async function everything(path: string, token?: string): Promise<Bundle> {
  const req = token ? request(server.base).get(path).set(bearer(token)) : server.api.get(path);
  const res = await req;
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as Bundle;
}

/** Every page from `path` on, following next links. */
async function allPages(path: string): Promise<Bundle[]> {
  const pages: Bundle[] = [];
  let next: string | undefined = path;
  while (next) {
    const page = await everything(next);
    pages.push(page);
    next = linkPath(page, 'next', server.base);
    expect(pages.length).toBeLessThan(40);
  }
  return pages;
}

beforeAll(async () => {
  idpKey = await jose.JWK.createKey('RSA', 2048, { alg: 'RS256', kid: 'ehr-1' });
  server = await startTestServer({}, undefined, {
    issuers: [{ issuer: ISSUER, jwks: { keys: [idpKey.toJSON()] } }],
  });
  for (const resource of data) {
    await server.api
      .put(`/${resource.resourceType}/${resource.id}`)
      .send(resource)
      .expect((res) => expect([200, 201]).toContain(res.status));
  }
});
afterAll(() => server?.close());

describe('Patient/[id]/$everything', () => {
  it('returns the Patient and every resource in its compartment, nothing else', async () => {
    const bundle = await everything('/Patient/ev-p/$everything?_count=100');
    expect(bundle.type).toBe('searchset');
    const found = refs(bundle);
    expect(withoutProvenance(found).sort()).toEqual(EXPECTED);
    expect(new Set(found).size).toBe(found.length);
    // What the data references outside the compartment comes along, not counted in the total.
    expect(refs(bundle, 'include')).toEqual(['Practitioner/ev-dr']);
    // The server's Provenance of the Patient's own write targets the Patient: in its compartment.
    const provenances = (bundle.entry ?? []).filter(
      (e) => e.resource?.resourceType === 'Provenance',
    );
    expect(provenances.length).toBeGreaterThan(0);
    for (const e of provenances) {
      const targets = (e.resource as Provenance).target;
      expect(targets.some((t) => t.reference!.startsWith('Patient/ev-p/'))).toBe(true);
    }
    expect(bundle.total).toBe(found.length);
    for (const e of bundle.entry ?? []) {
      expect(e.fullUrl).toBe(`${server.base}/${e.resource!.resourceType}/${e.resource!.id}`);
    }
  });

  it('POST without parameters answers as GET; POST with a Parameters body takes them', async () => {
    const get = await everything('/Patient/ev-p/$everything?_count=100');
    const post = await server.api.post('/Patient/ev-p/$everything?_count=100').expect(200);
    expect(refs(post.body).sort()).toEqual(refs(get).sort());
    const typed = await server.api
      .post('/Patient/ev-p/$everything')
      .send({
        resourceType: 'Parameters',
        parameter: [{ name: '_type', valueString: 'Encounter' }],
      })
      .expect(200);
    expect(refs(typed.body)).toEqual(['Encounter/ev-e1']);
    await server.api
      .post('/Patient/ev-p/$everything')
      .send({ resourceType: 'Observation', status: 'final' })
      .expect(400);
  });

  it('_type keeps the listed types only, and refuses types outside the compartment', async () => {
    const bundle = await everything('/Patient/ev-p/$everything?_type=Condition,Encounter');
    expect(refs(bundle).sort()).toEqual(['Condition/ev-same', 'Encounter/ev-e1']);
    // Nothing on the page references the Practitioner: it is not included.
    expect(refs(bundle, 'include')).toEqual([]);
    expect(bundle.total).toBe(2);
    const patientOnly = await everything('/Patient/ev-p/$everything?_type=Patient');
    expect(refs(patientOnly)).toEqual(['Patient/ev-p']);
    const res = await server.api.get('/Patient/ev-p/$everything?_type=Practitioner').expect(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    await server.api.get('/Patient/ev-p/$everything?_type=Nonsense').expect(400);
  });

  it('_since keeps what was written at or after the instant', async () => {
    const updated = await server.api
      .put('/Observation/ev-o3')
      .send({ ...data.find((r) => r.id === 'ev-o3'), status: 'amended' })
      .expect(200);
    const since = updated.body.meta.lastUpdated as string;
    const bundle = await everything(
      `/Patient/ev-p/$everything?_since=${encodeURIComponent(since)}`,
    );
    expect(refs(bundle)).toEqual(['Observation/ev-o3']);
    await server.api.get('/Patient/ev-p/$everything?_since=yesterday').expect(400);
  });

  it('pages with _count and next links that keep the query, without gaps or repeats', async () => {
    const whole = refs(await everything('/Patient/ev-p/$everything?_count=100')).sort();
    const pages = await allPages('/Patient/ev-p/$everything?_count=2');
    for (const page of pages) {
      expect(refs(page).length).toBeLessThanOrEqual(2);
      expect(page.total).toBe(whole.length);
    }
    const paged = pages.flatMap((p) => refs(p));
    expect(paged.sort()).toEqual(whole);
    const typed = await allPages('/Patient/ev-p/$everything?_type=Observation,Condition&_count=3');
    expect(typed.length).toBe(3);
    expect(typed.flatMap((p) => refs(p)).sort()).toEqual(
      EXPECTED.filter((r) => r.startsWith('Observation/') || r.startsWith('Condition/')),
    );
  });

  it('ignores start and end, saying so in an OperationOutcome entry (400 when strict)', async () => {
    const bundle = await everything('/Patient/ev-p/$everything?start=2020-01-01&_count=100');
    expect(withoutProvenance(refs(bundle)).sort()).toEqual(EXPECTED);
    const outcome = (bundle.entry ?? []).find((e: BundleEntry) => e.search?.mode === 'outcome');
    expect(outcome?.resource?.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(outcome?.resource)).toContain('start');
    await server.api
      .get('/Patient/ev-p/$everything?end=2020-01-01')
      .set('Prefer', 'handling=strict')
      .expect(400);
  });

  it('is 404 for a patient that does not exist', async () => {
    const res = await server.api.get('/Patient/ev-none/$everything').expect(404);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('returns only the types a SMART token may read or search, and 404 for another patient', async () => {
    const token = (scope: string, patient: string) =>
      externalToken(idpKey, {
        iss: ISSUER,
        aud: server.base,
        sub: 'app-user',
        client_id: 'app',
        scope,
        patient,
      });
    const mine = await token('patient/*.rs', 'ev-p');
    expect(
      withoutProvenance(
        refs(await everything('/Patient/ev-p/$everything?_count=100', mine)),
      ).sort(),
    ).toEqual(
      // A patient/ scope also sees Observation/ev-perf: ev-p is in its compartment (performer).
      EXPECTED,
    );
    const observationsOnly = await token('patient/Observation.rs patient/Patient.r', 'ev-p');
    const limited = await everything('/Patient/ev-p/$everything?_count=100', observationsOnly);
    expect(new Set(refs(limited).map((r) => r.split('/')[0]))).toEqual(
      new Set(['Observation', 'Patient']),
    );
    // No Practitioner scope: the referenced Practitioner is left out too.
    expect(refs(limited, 'include')).toEqual([]);
    // ev-q's token sees, of ev-p's compartment, only what is in ev-q's too.
    const theirs = await token('patient/*.rs', 'ev-q');
    expect(refs(await everything('/Patient/ev-p/$everything', theirs))).toEqual([
      'Observation/ev-perf',
    ]);
    // A patient with nothing in common: the same 404 as for a patient that does not exist.
    const stranger = await token('patient/*.rs', 'ev-stranger');
    const denied = await request(server.base)
      .get('/Patient/ev-p/$everything')
      .set(bearer(stranger))
      .expect(404);
    expect(denied.body.entry).toBeUndefined();
    // A token that can see none of the types: 403.
    const practitioners = await token('user/Practitioner.rs', 'ev-p');
    await request(server.base)
      .get('/Patient/ev-p/$everything')
      .set(bearer(practitioners))
      .expect(403);
    const conditionsAsked = await request(server.base)
      .get('/Patient/ev-p/$everything?_type=Condition')
      .set(bearer(observationsOnly))
      .expect(403);
    expect(conditionsAsked.body.resourceType).toBe('OperationOutcome');
  });

  it('is listed in the CapabilityStatement as an operation on Patient only', async () => {
    const res = await request(server.base).get('/metadata').expect(200);
    const statement = res.body as CapabilityStatement;
    const ops = (type: string) =>
      statement.rest![0]!.resource!.find((r) => r.type === type)?.operation?.map((o) => o.name);
    expect(ops('Patient')).toContain('everything');
    expect(ops('Observation')).not.toContain('everything');
  });
});
