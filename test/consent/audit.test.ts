import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type {
  AuditEvent,
  AuditEventEntity,
  Bundle,
  Observation,
  Parameters,
  Patient,
  Resource,
} from 'fhir/r4.js';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patientCompartment } from '../../src/auth/patient-compartment.js';
import type { AuditedRequest } from '../../src/consent/audit/balp-audit-events.js';
import { FhirError, issue } from '../../src/fhir/errors.js';
import type { FhirHooks } from '../../src/fhir/hooks.js';
import { startTestChain, type TestChain, waitFor } from '../support/test-chain.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { auditsOf } from './audit-support.js';

const JSON_TYPE = 'application/fhir+json';
const BALP = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit';

let chain: TestChain;
let server: TestServer;
let api: TestServer['api'];
let db: pg.Client;
const logLines: string[] = [];
let failClosed = false;

/**
 * A refusal before consent is consulted (the way a scope check or an outage refuses): the audit
 * must still record it. Every other decision here is the real enforcement's (the harness client
 * is a custodian); grants and denials are audited end to end in audit-enforced.test.ts.
 */
function registerRefusal(hooks: FhirHooks) {
  hooks.beforeOperation.push(async () => {
    if (failClosed) {
      throw new FhirError(503, [issue('transient', 'consent state is not current')]);
    }
  });
}

beforeAll(async () => {
  chain = await startTestChain();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  server = await startTestServer(
    { ledger: chain.ledgerConfig(), logLevel: 'info' },
    registerRefusal,
    { logger: pino({ level: 'info' }, sink) },
  );
  api = server.api;
  db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await server?.close();
  await chain?.stop();
});

async function create<T extends Resource>(resource: T): Promise<T> {
  const res = await api
    .post(`/${resource.resourceType}`)
    .set('Content-Type', JSON_TYPE)
    .send(resource);
  expect(res.status).toBe(201);
  return res.body as T;
}

async function patientWithObservations(family: string, count: number) {
  const patient = await create<Patient>({ resourceType: 'Patient', name: [{ family }] });
  const observations: Observation[] = [];
  for (let i = 0; i < count; i++) {
    observations.push(
      await create<Observation>({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
        subject: { reference: `Patient/${patient.id}` },
      }),
    );
  }
  return { patient: `Patient/${patient.id}`, observations };
}

const entitiesWithRole = (event: AuditEvent, code: string) =>
  (event.entity ?? []).filter((e) => e.role?.code === code);
const patientIn = (event: AuditEvent) => entitiesWithRole(event, '1')[0]?.what?.reference;
const returnedIn = (event: AuditEvent) =>
  entitiesWithRole(event, '4').flatMap((e) => (e.what?.reference ? [e.what.reference] : []));
const detail = (event: AuditEvent, type: string) =>
  entitiesWithRole(event, '13').flatMap((e) =>
    (e.detail ?? []).filter((d) => d.type === type).map((d) => d.valueString),
  );

/** Creates a Patient on `target` (as the harness custodian); its id. */
async function createPatient(target: TestServer, family: string): Promise<string> {
  const res = await target.api
    .post('/Patient')
    .set('Content-Type', JSON_TYPE)
    .send({ resourceType: 'Patient', name: [{ family }] })
    .expect(201);
  return res.body.id as string;
}

/**
 * A server of its own whose audit flushes only when stopped (flush interval one minute), unless
 * told otherwise.
 */
async function serverWithSlowAudit(
  auditMaxPending: number,
  auditFlushMs = 60_000,
): Promise<TestServer> {
  return startTestServer(
    {
      ledger: chain.ledgerConfig(),
      consent: {
        saltFile: path.join(await mkdtemp(path.join(tmpdir(), 'audit-salt-')), 'salt'),
        fromBlock: 0n,
        maxStalenessBlocks: 2,
        maxHeadAgeMs: 5000,
        pollIntervalMs: 50,
        confirmations: 0,
        custodianClients: ['test-harness'],
        custodianGrants: true,
        auditFlushMs,
        auditMaxPending,
        auditGroup: true,
      },
    },
    registerRefusal,
  );
}

describe('AuditEvent for every access decision', () => {
  it('audits a custodian read: BALP PatientRead, who, patient, what was returned, policy and block', async () => {
    const { patient, observations } = await patientWithObservations('Audited', 1);
    const obs = observations[0]!;
    const res = await api
      .get(`/Observation/${obs.id}`)
      .set('X-Request-Id', 'read-permit')
      .expect(200);
    expect(res.body.id).toBe(obs.id);
    const [event] = await auditsOf(db, 'read-permit', 1);
    expect(event!.meta?.profile).toEqual([`${BALP}.PatientRead`]);
    expect(event!.type.code).toBe('rest');
    expect(event!.subtype?.[0]?.code).toBe('read');
    expect(event!.action).toBe('R');
    expect(event!.outcome).toBe('0');
    expect(event!.purposeOfEvent?.[0]?.coding?.[0]?.code).toBe('TREAT');
    const client = event!.agent.find((a) => a.type?.coding?.[0]?.code === '110153');
    expect(client?.who?.identifier?.value).toBe('test-harness');
    expect(client?.requestor).toBe(true);
    expect(client?.policy).toBeUndefined();
    expect(event!.agent.some((a) => a.type?.coding?.[0]?.code === '110152')).toBe(true);
    expect(event!.source.observer.display).toBe('fhir-ledger');
    expect(patientIn(event!)).toBe(patient);
    expect(returnedIn(event!)).toEqual([`Observation/${obs.id}/_history/1`]);
    expect(detail(event!, 'basis')).toEqual(['custodian']);
    expect(detail(event!, 'grant')).toEqual([]);
    const block = BigInt(detail(event!, 'block')[0]!);
    expect(block).toBeGreaterThan(0n);
    expect(block).toBeLessThanOrEqual(server.consent!.mirror.seenBlock);
    const decision = event!.entity?.find((e) => e.role?.code === '13');
    expect(decision?.what?.identifier?.value).toBe(`eip155:31337:${chain.consentRegistry}`);
  });

  it('audits a search with one AuditEvent per patient touched, each with the query and its own results', async () => {
    const a = await patientWithObservations('SearchA', 2);
    const b = await patientWithObservations('SearchB', 1);
    const query = `/Observation?subject=${a.patient},${b.patient}`;
    const res = await api.get(query).set('X-Request-Id', 'search-two').expect(200);
    expect((res.body as Bundle).total).toBe(3);
    const events = await auditsOf(db, 'search-two', 2);
    const byPatient = new Map(events.map((e) => [patientIn(e), e]));
    for (const { patient, observations } of [a, b]) {
      const event = byPatient.get(patient)!;
      expect(event.meta?.profile).toEqual([`${BALP}.PatientQuery`]);
      expect(event.subtype?.[0]?.code).toBe('search-type');
      expect(event.action).toBe('E');
      const [q] = entitiesWithRole(event, '24');
      expect(Buffer.from(q!.query!, 'base64').toString()).toBe(query);
      expect(returnedIn(event).sort()).toEqual(
        observations.map((o) => `Observation/${o.id}/_history/1`).sort(),
      );
    }
  });

  it('files a Provenance under its targets’ patients when a response covers several', async () => {
    const a = await patientWithObservations('ProvenanceA', 1);
    const b = await patientWithObservations('ProvenanceB', 1);
    // The server's Provenance of each Observation: A's and B's data, though it names no patient.
    const provenanceOf = async (observation: Observation) => {
      const res = await api.get(`/Provenance?target=Observation/${observation.id}`).expect(200);
      return (res.body as Bundle).entry![0]!.resource!;
    };
    const provenances = [
      await provenanceOf(a.observations[0]!),
      await provenanceOf(b.observations[0]!),
    ];
    await api
      .get(`/Provenance?_id=${provenances.map((p) => p.id).join(',')}`)
      .set('X-Request-Id', 'provenance-two')
      .expect(200);
    const events = await auditsOf(db, 'provenance-two', 2);
    const byPatient = new Map(events.map((e) => [patientIn(e), e]));
    for (const [{ patient }, provenance] of [
      [a, provenances[0]!],
      [b, provenances[1]!],
    ] as const) {
      expect(returnedIn(byPatient.get(patient)!)).toEqual([
        `Provenance/${provenance.id}/_history/${provenance.meta!.versionId}`,
      ]);
    }
  });

  it('audits a read refused before any patient is known (503 fail-closed)', async () => {
    failClosed = true;
    try {
      await api.get('/Observation?code=8867-4').set('X-Request-Id', 'fail-closed').expect(503);
    } finally {
      failClosed = false;
    }
    const [event] = await auditsOf(db, 'fail-closed', 1);
    expect(event!.outcome).toBe('4');
    expect(event!.outcomeDesc).toContain('unavailable');
    expect(event!.meta?.profile).toEqual([`${BALP}.Query`]);
    expect(patientIn(event!)).toBeUndefined();
    const [q] = entitiesWithRole(event!, '24');
    expect(q?.description).toBe('/Observation?code=8867-4');
  });

  it('stores AuditEvents as searchable resources in the patient compartment', async () => {
    const { patient, observations } = await patientWithObservations('Searchable', 1);
    const obs = observations[0]!;
    const since = new Date(Date.now() - 1000).toISOString();
    await api.get(`/Observation/${obs.id}`).set('X-Request-Id', 'searchable').expect(200);
    const [stored] = await auditsOf(db, 'searchable', 1);

    // Reading AuditEvents is audited too (they are the patient's data): more may appear.
    const search = async (q: string) =>
      ((await api.get(`/AuditEvent?${q}`).expect(200)).body as Bundle).entry?.map(
        (e) => e.resource!.id,
      ) ?? [];
    expect(await search(`patient=${patient}`)).toContain(stored!.id);
    expect(await search(`entity=Observation/${obs.id}/_history/1`)).toEqual([stored!.id]);
    expect(await search(`patient=${patient}&date=ge${since}`)).toContain(stored!.id);
    expect(await search(`patient=${patient}&date=lt${since}`)).toEqual([]);
    expect(await search(`patient=${patient}&agent:identifier=test-harness`)).toContain(stored!.id);
    expect(await search(`patient=${patient}&outcome=4`)).toEqual([]);
    expect(await search(`patient=Patient/someone-else`)).toEqual([]);

    const patientId = patient.split('/')[1]!;
    expect(patientCompartment(stored!, patientId, server.services.params)).toBe('inside');
  });

  it('anchors AuditEvents ($verify becomes anchored) without a Provenance of their own', async () => {
    const { observations } = await patientWithObservations('Anchored', 1);
    await api.get(`/Observation/${observations[0]!.id}`).set('X-Request-Id', 'anchor').expect(200);
    const [event] = await auditsOf(db, 'anchor', 1);
    const ref = `AuditEvent/${event!.id}/_history/1`;
    await waitFor('the AuditEvent anchored', async () => {
      const res = await api.get(`/${ref}/$verify`).expect(200);
      const status = (res.body as Parameters).parameter?.find((p) => p.name === 'status');
      return status?.valueCode === 'anchored';
    });
    const { rows } = await db.query(
      `SELECT count(*)::int AS n FROM resource_current WHERE resource_type = 'Provenance'
          AND content->'target' @> jsonb_build_array(jsonb_build_object('reference', $1::text))`,
      [ref],
    );
    expect(rows[0].n).toBe(0);
  });

  it('survives a failed flush: retries until stored, and logs no ids', async () => {
    const { patient, observations } = await patientWithObservations('Retried', 1);
    // A real database failure whose message quotes the AuditEvent's id.
    await db.query(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'refused AuditEvent/%', NEW.id; END $$`);
    await db.query(`CREATE TRIGGER refuse_audit BEFORE INSERT ON resource_version FOR EACH ROW
        WHEN (NEW.resource_type = 'AuditEvent') EXECUTE FUNCTION refuse_audit()`);
    try {
      await api.get(`/Observation/${observations[0]!.id}`).set('X-Request-Id', 'retry').expect(200);
      await waitFor('a failed flush logged', async () =>
        logLines.some((l) => l.includes('audit: flush failed')),
      );
    } finally {
      await db.query('DROP TRIGGER refuse_audit ON resource_version');
      await db.query('DROP FUNCTION refuse_audit()');
    }
    const [event] = await auditsOf(db, 'retry', 1);
    expect(patientIn(event!)).toBe(patient);
    const logs = logLines.join('\n');
    for (const id of [patient.split('/')[1]!, observations[0]!.id!, event!.id!]) {
      expect(logs).not.toContain(id);
    }
  });

  it('does not audit requests without an access decision, nor the audit writes themselves', async () => {
    await api.get('/metadata').set('X-Request-Id', 'metadata').expect(200);
    await api.get('/Organization').set('X-Request-Id', 'no-patient').expect(200);
    // A later audited request flushes after those; none of them left an AuditEvent.
    const { observations } = await patientWithObservations('Later', 1);
    await api.get(`/Observation/${observations[0]!.id}`).set('X-Request-Id', 'later').expect(200);
    await auditsOf(db, 'later', 1);
    for (const requestId of ['metadata', 'no-patient', 'audit-flush']) {
      const { rows } = await db.query(
        `SELECT count(*)::int AS n FROM resource_current WHERE resource_type = 'AuditEvent'
            AND content::text LIKE '%' || $1 || '%'`,
        [`"value": "${requestId}"`],
      );
      expect(rows[0].n).toBe(0);
    }
  });

  it('refuses reads while the audit is too far behind, and writes what is buffered when the server stops', async () => {
    const slow = await serverWithSlowAudit(2);
    const client = new pg.Client({ connectionString: slow.databaseUrl });
    await client.connect();
    try {
      const patient = await createPatient(slow, 'Shutdown');
      await slow.api.get(`/Patient/${patient}`).expect(200);
      const writer = slow.consent!.audit.writer;
      // The create is audited (a write decision), then the read.
      await waitFor('the AuditEvents buffered', async () => writer.pending === 2);
      const count = async () =>
        (
          await client.query(
            "SELECT count(*)::int AS n FROM resource_current WHERE resource_type = 'AuditEvent'",
          )
        ).rows[0].n;
      expect(await count()).toBe(0);
      // The audit is as far behind as allowed: reads are refused until it catches up.
      const refused = await slow.api.get(`/Patient/${patient}`).expect(503);
      expect(refused.body.issue[0].diagnostics).toContain('audit');
      expect(writer.pending).toBe(2);
      await slow.consent!.audit.stop();
      expect(await count()).toBe(2);
      expect(writer.pending).toBe(0);
    } finally {
      await client.end();
      await slow.close();
    }
  });
  it('refuses every read once an AuditEvent cannot be built: nothing is served unaudited', async () => {
    const orphan = await serverWithSlowAudit(50_000, 50);
    try {
      const patient = await createPatient(orphan, 'Orphaned');
      await orphan.api.get(`/Patient/${patient}`).expect(200);
      // A request whose AuditEvent cannot be built (no server to name), as a bug would make.
      const writer = orphan.consent!.audit.writer;
      const unbuildable = {
        requestId: 'unbuildable',
        principal: undefined,
        outcome: { status: 403, method: 'GET', interaction: 'read', url: '/Patient/x' },
        operations: [],
        decisionsByPatient: new Map([['', []]]),
        returnedByPatient: new Map(),
        recorded: new Date().toISOString(),
        server: undefined,
      };
      writer.add(unbuildable as unknown as AuditedRequest);
      await waitFor('the audit failed', async () => writer.pending === Infinity);
      const refused = await orphan.api.get(`/Patient/${patient}`).expect(503);
      expect(refused.body.issue[0].diagnostics).toContain('audit');
      expect(refused.body.resourceType).toBe('OperationOutcome');
    } finally {
      await orphan.close();
    }
  });

  it('groups the reads of one caller about one patient that share a flush into one AuditEvent naming each request', async () => {
    // No flush before the test asks for one: every read below is in the same flush.
    const batched = await serverWithSlowAudit(50_000);
    const client = new pg.Client({ connectionString: batched.databaseUrl });
    await client.connect();
    try {
      const post = async (resource: Resource) =>
        (
          await batched.api
            .post(`/${resource.resourceType}`)
            .set('Content-Type', JSON_TYPE)
            .send(resource)
            .expect(201)
        ).body as Resource;
      const patient = await post({
        resourceType: 'Patient',
        name: [{ family: 'Grouped' }],
      } as Patient);
      const observations: Resource[] = [];
      for (let i = 0; i < 3; i++) {
        observations.push(
          await post({
            resourceType: 'Observation',
            status: 'final',
            code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
            subject: { reference: `Patient/${patient.id}` },
          } as Observation),
        );
      }
      const reads = [0, 1, 2, 0].map((n, i) => ({
        request: `grouped-${i}`,
        obs: observations[n]!,
      }));
      await Promise.all(
        reads.map(({ request, obs }) =>
          batched.api.get(`/Observation/${obs.id}`).set('X-Request-Id', request).expect(200),
        ),
      );
      await batched.consent!.audit.stop();

      const events = await Promise.all(reads.map(({ request }) => auditsOf(client, request, 1)));
      const ids = new Set(events.map(([e]) => e!.id));
      expect(ids.size).toBe(1);
      const [event] = events[0]!;
      expect(event!.meta?.profile).toEqual([`${BALP}.PatientRead`]);
      expect(patientIn(event!)).toBe(`Patient/${patient.id}`);
      expect(event!.period?.start && event!.period.end).toBeTruthy();
      const detail = (entity: AuditEventEntity | undefined, type: string) =>
        entity?.detail?.find((d) => d.type === type)?.valueString?.split(' ') ?? [];
      const requestEntity = event!.entity!.find((e) => e.type?.code === 'XrequestId');
      const requestIds = detail(requestEntity, 'requests');
      expect([...requestIds].sort()).toEqual(reads.map((r) => r.request).sort());
      // Which request received which version: their numbers in the request-id list.
      const received = Object.fromEntries(
        entitiesWithRole(event!, '4').map((e) => [
          e.what?.reference,
          detail(e, 'request-numbers')
            .map((n) => requestIds[Number(n) - 1])
            .sort(),
        ]),
      );
      expect(received).toEqual({
        [`Observation/${observations[0]!.id}/_history/1`]: ['grouped-0', 'grouped-3'],
        [`Observation/${observations[1]!.id}/_history/1`]: ['grouped-1'],
        [`Observation/${observations[2]!.id}/_history/1`]: ['grouped-2'],
      });
      expect(entitiesWithRole(event!, '13')[0]?.description).toBe('permit Observation x4');
    } finally {
      await client.end();
      await batched.close();
    }
  });
});
