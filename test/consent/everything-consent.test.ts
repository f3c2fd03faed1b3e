import type { AuditEvent, Bundle, FhirResource, Observation } from 'fhir/r4.js';
import jose from 'node-jose';
import pg from 'pg';
import type { Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestChain, type TestChain } from '../support/test-chain.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { auditsOf } from './audit-support.js';
import {
  type ConsentWorld,
  classes,
  consentFor,
  consentWorld,
  ISSUER,
  purposes,
  recipient,
} from './consent-support.js';

/** Patient/[id]/$everything under consent on a real chain: what each caller gets, and the audit. */
let chain: TestChain;
let server: TestServer;
let world: ConsentWorld;
let db: pg.Client;
const id = {} as Record<
  'full' | 'obsOnly' | 'none' | 'a' | 'obs1' | 'obs2' | 'cond' | 'enc',
  string
>;
const token = {} as Record<'patient' | 'full' | 'obsOnly' | 'none', string>;
let fullGrant: Hex[];

const post = async (resource: FhirResource) =>
  (await server.api.post(`/${resource.resourceType}`).send(resource).expect(201)).body.id as string;
const observation = (patient: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'blood pressure' },
  subject: { reference: `Patient/${patient}` },
});
const refs = (bundle: Bundle) =>
  (bundle.entry ?? [])
    .filter((e) => e.search?.mode === 'match')
    .map((e) => `${e.resource!.resourceType}/${e.resource!.id}`)
    .sort();
const types = (bundle: Bundle) => new Set(refs(bundle).map((r) => r.split('/')[0]));
const practitioner = (dr: string) =>
  world.token({
    sub: `user-${dr}`,
    scope: 'user/*.rs',
    fhirUser: `Practitioner/${dr}`,
    purpose_of_use: 'TREAT',
  });

beforeAll(async () => {
  chain = await startTestChain();
  const idpKey = await jose.JWK.createKey('RSA', 2048, { alg: 'RS256', kid: 'idp-1' });
  server = await startTestServer({ ledger: chain.ledgerConfig() }, undefined, {
    issuers: [{ issuer: ISSUER, jwks: { keys: [idpKey.toJSON()] } }],
  });
  world = await consentWorld(server, chain, idpKey);
  db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
  id.full = await post({ resourceType: 'Practitioner', name: [{ family: 'Full' }] });
  id.obsOnly = await post({ resourceType: 'Practitioner', name: [{ family: 'Observations' }] });
  id.none = await post({ resourceType: 'Practitioner', name: [{ family: 'Nobody' }] });
  id.a = await post({ resourceType: 'Patient', name: [{ family: 'Everything' }] });
  id.obs1 = await post(observation(id.a));
  id.obs2 = await post(observation(id.a));
  id.cond = await post({
    resourceType: 'Condition',
    subject: { reference: `Patient/${id.a}` },
    code: { text: 'asthma' },
  });
  id.enc = await post({
    resourceType: 'Encounter',
    status: 'finished',
    class: { code: 'AMB' },
    subject: { reference: `Patient/${id.a}` },
  });
  // A grant without classes covers every class; the other names Observation only.
  fullGrant = await world.grant(
    consentFor(id.a, {
      type: 'permit',
      actor: [recipient(`Practitioner/${id.full}`)],
      purpose: purposes('TREAT'),
    }),
  );
  await world.grant(
    consentFor(id.a, {
      type: 'permit',
      actor: [recipient(`Practitioner/${id.obsOnly}`)],
      class: classes('Observation'),
      purpose: purposes('TREAT'),
    }),
  );
  token.patient = await world.token({ sub: 'patient-a', scope: 'patient/*.rs', patient: id.a });
  token.full = await practitioner(id.full);
  token.obsOnly = await practitioner(id.obsOnly);
  token.none = await practitioner(id.none);
}, 120_000);
afterAll(async () => {
  await db?.end();
  await server?.close();
  await chain?.stop();
});

const everything = (who: string, query = '?_count=100') =>
  world.get(`/Patient/${id.a}/$everything${query}`, who);
const DATA = () => [
  `Condition/${id.cond}`,
  `Encounter/${id.enc}`,
  `Observation/${id.obs1}`,
  `Observation/${id.obs2}`,
  `Patient/${id.a}`,
];
/** The clinical data of the world; $everything also returns the patient's Consents, AuditEvents ... */
const CLINICAL = new Set(['Patient', 'Observation', 'Condition', 'Encounter']);
const patientData = (bundle: Bundle) => refs(bundle).filter((r) => CLINICAL.has(r.split('/')[0]!));

describe('Patient/[id]/$everything under consent', () => {
  it('the patient gets its own everything without any grant', async () => {
    const res = await everything(token.patient).expect(200);
    expect(patientData(res.body)).toEqual(DATA().sort());
    // The Consents made from the chain's grants are the patient's too.
    expect(types(res.body).has('Consent')).toBe(true);
  });

  it('a practitioner with a grant gets it all; the custodian too', async () => {
    const res = await everything(token.full).expect(200);
    expect(patientData(res.body)).toEqual(DATA().sort());
    expect(res.body.total).toBe(refs(res.body).length);
    const custodian = await server.api.get(`/Patient/${id.a}/$everything?_count=100`).expect(200);
    expect(patientData(custodian.body)).toEqual(DATA().sort());
  });

  it('a practitioner with a grant for Observation gets the Observations only, counted alone', async () => {
    const res = await everything(token.obsOnly).expect(200);
    expect(refs(res.body)).toEqual([`Observation/${id.obs1}`, `Observation/${id.obs2}`].sort());
    expect(res.body.total).toBe(2);
    // Pages are cut after the hidden resources are dropped: one per page, two pages.
    const first = await everything(token.obsOnly, '?_count=1').expect(200);
    expect(types(first.body)).toEqual(new Set(['Observation']));
    const next = first.body.link.find((l: { relation: string }) => l.relation === 'next')?.url;
    const second = await world.get(next.slice(server.base.length), token.obsOnly).expect(200);
    expect(refs(second.body)).toHaveLength(1);
    expect(second.body.link.some((l: { relation: string }) => l.relation === 'next')).toBe(false);
    // Asking for a class it may not see leaves an empty page, not a 404: it may see the patient's data.
    const conditions = await everything(token.obsOnly, '?_type=Condition').expect(200);
    expect(conditions.body.total).toBe(0);
  });

  it('a practitioner without a grant gets the 404 of a patient that does not exist', async () => {
    const denied = await everything(token.none).set('X-Request-Id', 'ev-denied').expect(404);
    const absent = await world.get('/Patient/no-such-patient/$everything', token.none).expect(404);
    expect(denied.body).toEqual({
      ...absent.body,
      issue: [{ ...absent.body.issue[0], diagnostics: `Patient/${id.a} not found` }],
    });
    expect(JSON.stringify(denied.body)).not.toContain('Observation');
    // The denied attempt is audited, with nothing returned.
    const [event] = await auditsOf(db, 'ev-denied', 1);
    expect(event!.outcome).toBe('4');
    expect(patientOf(event!)).toBe(`Patient/${id.a}`);
    expect(returnedIn(event!)).toEqual([]);
  });

  it('the AuditEvent of $everything names the patient, the query, what was returned and the grant', async () => {
    const res = await everything(token.full).set('X-Request-Id', 'ev-audit').expect(200);
    const [event] = await auditsOf(db, 'ev-audit', 1);
    expect(event!.outcome).toBe('0');
    expect(event!.subtype?.[0]?.code).toBe('operation');
    expect(event!.meta?.profile?.[0]).toMatch(/PatientQuery$/);
    expect(patientOf(event!)).toBe(`Patient/${id.a}`);
    const query = event!.entity?.find((e) => e.role?.code === '24');
    expect(query?.description).toBe(`/Patient/${id.a}/$everything?_count=100`);
    const returned = returnedIn(event!).map((r) => r!.replace(/\/_history\/\d+$/, ''));
    expect(returned.sort()).toEqual(refs(res.body));
    const grants = (event!.entity ?? [])
      .filter((e) => e.role?.code === '13')
      .flatMap((e) => (e.detail ?? []).filter((d) => d.type === 'grant').map((d) => d.valueString));
    expect(new Set(grants)).toEqual(new Set(fullGrant));
  });

  it('a revoked grant: 404 on the next request', async () => {
    await everything(token.full).expect(200);
    await world.revoke(fullGrant);
    const res = await everything(token.full).expect(404);
    expect(res.body.entry).toBeUndefined();
  });
});

const patientOf = (e: AuditEvent) => e.entity?.find((x) => x.role?.code === '1')?.what?.reference;
const returnedIn = (e: AuditEvent) =>
  (e.entity ?? []).filter((x) => x.role?.code === '4' && x.what).map((x) => x.what!.reference);
