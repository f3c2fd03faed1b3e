import type { AuditEvent, Bundle, FhirResource, Observation } from 'fhir/r4.js';
import jose from 'node-jose';
import pg from 'pg';
import type { Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRANT_POLICY_PREFIX } from '../../src/consent/audit/balp-audit-events.js';
import { startTestChain, type TestChain, waitFor } from '../support/test-chain.js';
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

/** End to end: real enforcement (grants on anvil, the mirror) decides; the audit records. */
let chain: TestChain;
let server: TestServer;
let world: ConsentWorld;
let db: pg.Client;
let chainStopped = false;
const id = {} as Record<'dr' | 'a' | 'b' | 'obsA' | 'obsB', string>;
let asDr: string;
let grantA: Hex[];

const post = async (resource: FhirResource) =>
  (await server.api.post(`/${resource.resourceType}`).send(resource).expect(201)).body.id as string;
const observation = (patient: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'blood pressure' },
  subject: { reference: `Patient/${patient}` },
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
  id.dr = await post({ resourceType: 'Practitioner', name: [{ family: 'Grantee' }] });
  id.a = await post({ resourceType: 'Patient', name: [{ family: 'Consenting' }] });
  id.b = await post({ resourceType: 'Patient', name: [{ family: 'Silent' }] });
  id.obsA = await post(observation(id.a));
  id.obsB = await post(observation(id.b));
  grantA = await world.grant(
    consentFor(id.a, {
      type: 'permit',
      actor: [recipient(`Practitioner/${id.dr}`)],
      class: classes('Observation'),
      purpose: purposes('TREAT'),
    }),
  );
  asDr = await world.token({
    sub: 'dr-grantee',
    scope: 'user/*.rs',
    fhirUser: `Practitioner/${id.dr}`,
    purpose_of_use: 'TREAT',
  });
});
afterAll(async () => {
  await db?.end();
  await server?.close();
  if (!chainStopped) await chain?.stop();
});

const patientIn = (e: AuditEvent) => e.entity?.find((x) => x.role?.code === '1')?.what?.reference;
const returnedIn = (e: AuditEvent) =>
  (e.entity ?? []).filter((x) => x.role?.code === '4' && x.what).map((x) => x.what!.reference);
const detail = (e: AuditEvent, type: string) =>
  (e.entity ?? [])
    .filter((x) => x.role?.code === '13')
    .flatMap((x) => (x.detail ?? []).filter((d) => d.type === type).map((d) => d.valueString));
const user = (e: AuditEvent) => e.agent.find((a) => a.type?.coding?.[0]?.code === 'IRCP');

describe('AuditEvents of real consent decisions', () => {
  it('a practitioner with a grant: permitted, the user, the grant ids and the block that decided', async () => {
    await world.get(`/Observation/${id.obsA}`, asDr).set('X-Request-Id', 'e2e-grant').expect(200);
    const [event] = await auditsOf(db, 'e2e-grant', 1);
    expect(event!.outcome).toBe('0');
    expect(patientIn(event!)).toBe(`Patient/${id.a}`);
    expect(returnedIn(event!)).toEqual([`Observation/${id.obsA}/_history/1`]);
    expect(user(event!)?.who?.reference).toBe(`Practitioner/${id.dr}`);
    expect(user(event!)?.policy).toEqual(grantA.map((g) => `${GRANT_POLICY_PREFIX}${g}`));
    expect(detail(event!, 'basis')).toEqual(['grant']);
    expect(detail(event!, 'grant')).toEqual(grantA);
    const block = BigInt(detail(event!, 'block')[0]!);
    expect(block).toBeGreaterThan(0n);
    expect(block).toBeLessThanOrEqual(server.consent!.mirror.seenBlock);
    // Who saw patient A under that grant: one search away.
    const found = await server.api
      .get(`/AuditEvent?policy=${GRANT_POLICY_PREFIX}${grantA[0]}&agent=Practitioner/${id.dr}`)
      .expect(200);
    expect((found.body as Bundle).entry?.map((e) => e.resource!.id)).toContain(event!.id);
  });

  it('a practitioner without a grant: denied, outcome 4, nothing returned', async () => {
    const res = await world.get(`/Observation/${id.obsB}`, asDr).set('X-Request-Id', 'e2e-deny');
    expect([403, 404]).toContain(res.status);
    const [event] = await auditsOf(db, 'e2e-deny', 1);
    expect(event!.outcome).toBe('4');
    expect(patientIn(event!)).toBe(`Patient/${id.b}`);
    expect(returnedIn(event!)).toEqual([`Observation/${id.obsB}`]);
    expect(detail(event!, 'basis')).toEqual(['no-grant']);
    expect(event!.entity?.find((e) => e.role?.code === '13')?.description).toMatch(/^deny /);
    expect(user(event!)?.policy).toBeUndefined();
  });

  it('a search over both patients: one AuditEvent each, the denied one without results', async () => {
    const query = `/Observation?subject=Patient/${id.a},Patient/${id.b}`;
    const res = await world.get(query, asDr).set('X-Request-Id', 'e2e-search').expect(200);
    expect((res.body as Bundle).total).toBe(1);
    const events = await auditsOf(db, 'e2e-search', 2);
    const byPatient = new Map(events.map((e) => [patientIn(e), e]));
    const a = byPatient.get(`Patient/${id.a}`)!;
    const b = byPatient.get(`Patient/${id.b}`)!;
    expect([a.outcome, b.outcome]).toEqual(['0', '4']);
    expect(returnedIn(a)).toEqual([`Observation/${id.obsA}/_history/1`]);
    expect(returnedIn(b)).toEqual([]);
    for (const event of [a, b]) {
      const q = event.entity?.find((x) => x.role?.code === '24');
      expect(Buffer.from(q!.query!, 'base64').toString()).toBe(query);
    }
  });

  it('the chain stopped: the 503 is audited as a refusal with the consent state unavailable', async () => {
    await chain.stop();
    chainStopped = true;
    await waitFor(
      'fail closed',
      async () => (await world.get(`/Observation/${id.obsA}`, asDr)).status === 503,
    );
    await world.get(`/Observation/${id.obsA}`, asDr).set('X-Request-Id', 'e2e-503').expect(503);
    const [event] = await auditsOf(db, 'e2e-503', 1);
    expect(event!.outcome).toBe('4');
    expect(detail(event!, 'basis')).toEqual(['unavailable']);
    expect(event!.outcomeDesc).toContain('HTTP 503');
    expect(user(event!)?.who?.reference).toBe(`Practitioner/${id.dr}`);
  });
});
