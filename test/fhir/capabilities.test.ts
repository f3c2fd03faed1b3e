import type { CapabilityStatement } from 'fhir/r4.js';
import type request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../src/fhir/definitions.js';
import { routes } from '../../src/fhir/route-table.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

let server: TestServer;
let api: TestServer['api'];
let statement: CapabilityStatement;

beforeAll(async () => {
  server = await startTestServer();
  api = server.api;
  statement = (await api.get('/metadata').expect(200)).body;
});
afterAll(() => server?.close());

const rest = () => statement.rest![0]!;
const JSON_TYPE = 'application/fhir+json';

/** Calls one interaction on a type; the answer must come from the interaction, not the router. */
async function exercise(type: string, code: string): Promise<request.Response> {
  switch (code) {
    case 'read':
      return api.get(`/${type}/cap-missing`);
    case 'vread':
      return api.get(`/${type}/cap-missing/_history/1`);
    case 'history-instance':
      return api.get(`/${type}/cap-missing/_history`);
    case 'history-type':
      return api.get(`/${type}/_history`);
    case 'update':
      return api
        .put(`/${type}/cap-1`)
        .set('Content-Type', JSON_TYPE)
        .send({ resourceType: type, id: 'other' });
    case 'delete':
      return api.delete(`/${type}/cap-missing`);
    case 'create':
      return api
        .post(`/${type}`)
        .set('Content-Type', JSON_TYPE)
        .send({ resourceType: 'Unmatched' });
    case 'search-type':
      return api.get(`/${type}?_id=cap-missing`);
    case 'patch':
      return api
        .patch(`/${type}/cap-missing`)
        .set('Content-Type', 'application/json-patch+json')
        .send('[{"op":"remove","path":"/text"}]');
    default:
      throw new Error(`no exercise for ${code}`);
  }
}
const EXPECTED_STATUS: Record<string, number> = {
  read: 404,
  vread: 404,
  'history-instance': 404,
  'history-type': 200,
  update: 400,
  delete: 204,
  create: 400,
  'search-type': 200,
  patch: 404,
};

describe('CapabilityStatement', () => {
  it('is an R4 instance statement for JSON', () => {
    expect(statement.resourceType).toBe('CapabilityStatement');
    expect(statement.fhirVersion).toBe('4.0.1');
    expect(statement.kind).toBe('instance');
    expect(statement.format).toContain('application/fhir+json');
    expect(statement.format).not.toContain('xml');
  });

  it('lists every R4 resource type and nothing else', () => {
    const types = rest().resource!.map((r) => r.type);
    expect(types).toEqual(loadDefinitions().resourceTypes);
    expect(types).toHaveLength(146);
    for (const t of [
      'Patient',
      'Observation',
      'Claim',
      'Consent',
      'Provenance',
      'AuditEvent',
      'Encounter',
    ]) {
      expect(types).toContain(t);
    }
    expect(types).not.toContain('SubscriptionStatus');
  });

  it('lists exactly the interactions of the route table', () => {
    const fromRoutes = new Set(
      routes.filter((r) => r.level !== 'system' && !r.operation).map((r) => r.interaction),
    );
    for (const resource of rest().resource!) {
      expect(new Set(resource.interaction!.map((i) => i.code))).toEqual(fromRoutes);
      // $verify is an instance operation on every type; $signing-request is Consent's alone,
      // $everything Patient's.
      const own: Record<string, string[]> = {
        Consent: ['signing-request', 'validate', 'verify'],
        Patient: ['everything', 'validate', 'verify'],
      };
      expect(resource.operation!.map((o) => o.name).sort()).toEqual(
        own[resource.type] ?? ['validate', 'verify'],
      );
    }
    const system = rest().interaction!.map((i) => i.code);
    expect(system).toEqual(expect.arrayContaining(['transaction', 'batch', 'history-system']));
    expect(system).toEqual([
      ...new Set(
        routes
          .filter((r) => r.level === 'system' && r.interaction !== 'capabilities' && !r.operation)
          .map((r) => r.interaction),
      ),
    ]);
  });

  it('every advertised interaction is answered by that interaction for every type', async () => {
    const failures: string[] = [];
    for (const resource of rest().resource!) {
      for (const { code } of resource.interaction!) {
        const res = await exercise(resource.type, code);
        if (res.status !== EXPECTED_STATUS[code])
          failures.push(`${resource.type} ${code}: ${res.status}`);
      }
      // A Parameters body is the operation's own envelope, so a Parameters to check goes inside one.
      const body =
        resource.type === 'Parameters'
          ? {
              resourceType: 'Parameters',
              parameter: [{ name: 'resource', resource: { resourceType: 'Parameters' } }],
            }
          : { resourceType: resource.type };
      const validate = await api
        .post(`/${resource.type}/$validate`)
        .set('Content-Type', JSON_TYPE)
        .send(body);
      if (validate.status !== 200) failures.push(`${resource.type} $validate: ${validate.status}`);
    }
    expect(failures).toEqual([]);
  });

  it('lists every search parameter of each type, and they are accepted by search', async () => {
    const patient = rest().resource!.find((r) => r.type === 'Patient')!;
    const names = patient.searchParam!.map((p) => p.name);
    expect(names).toEqual(
      expect.arrayContaining([
        '_id',
        '_lastUpdated',
        'name',
        'birthdate',
        'identifier',
        'general-practitioner',
      ]),
    );
    for (const param of patient.searchParam!) {
      const res = await api
        .get(`/Patient?${param.name}:missing=true`)
        .set('Prefer', 'handling=strict');
      expect([param.name, res.status]).toEqual([param.name, 200]);
    }
    expect(patient.searchInclude).toContain('Patient:general-practitioner');
    expect(patient.searchRevInclude).toContain('Observation:subject');
  });

  it('answers the advertised system interactions transaction and batch', async () => {
    for (const type of ['transaction', 'batch']) {
      const res = await api
        .post('/')
        .set('Content-Type', JSON_TYPE)
        .send({ resourceType: 'Bundle', type, entry: [] })
        .expect(200);
      expect(res.body.type).toBe(`${type}-response`);
    }
  });

  it('what is not advertised is refused with an OperationOutcome', async () => {
    await api.put('/Patient').set('Content-Type', JSON_TYPE).send({}).expect(405);
    const conditionalDelete = await api.delete('/Patient?name=x').expect(405);
    expect(conditionalDelete.body.resourceType).toBe('OperationOutcome');
    const collection = await api
      .post('/')
      .set('Content-Type', JSON_TYPE)
      .send({ resourceType: 'Bundle', type: 'collection' })
      .expect(400);
    expect(collection.body.resourceType).toBe('OperationOutcome');
    await api.get('/SubscriptionStatus/1').expect(404);
  });
});
