import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.js';

const FHIR_JSON = 'application/fhir+json';
const XHTML = 'http://www.w3.org/1999/xhtml';
const VITAL_SIGNS = 'http://hl7.org/fhir/StructureDefinition/vitalsigns';

type Json = Record<string, unknown>;

let server: TestServer;
let api: TestServer['api'];

beforeAll(async () => {
  server = await startTestServer();
  api = server.api;
});
afterAll(() => server?.close());

// Minimal valid resources per R4; each case breaks exactly one rule of one of them.
const valid: Record<string, Json> = {
  Patient: {
    resourceType: 'Patient',
    name: [{ family: 'Chalmers', given: ['Peter'] }],
    gender: 'male',
  },
  Observation: { resourceType: 'Observation', status: 'final', code: { text: 'body weight' } },
  Claim: {
    resourceType: 'Claim',
    status: 'active',
    type: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'oral' }],
    },
    use: 'claim',
    patient: { reference: 'Patient/1' },
    created: '2024-01-15',
    provider: { reference: 'Organization/1' },
    priority: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }],
    },
    insurance: [{ sequence: 1, focal: true, coverage: { reference: 'Coverage/1' } }],
  },
  Consent: {
    resourceType: 'Consent',
    status: 'active',
    scope: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' },
      ],
    },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    policyRule: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }],
    },
  },
  Provenance: {
    resourceType: 'Provenance',
    target: [{ reference: 'Patient/1' }],
    recorded: '2024-01-15T10:00:00Z',
    agent: [{ who: { reference: 'Practitioner/1' } }],
  },
  AuditEvent: {
    resourceType: 'AuditEvent',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    recorded: '2024-01-15T10:00:00Z',
    agent: [{ who: { reference: 'Practitioner/1' }, requestor: true }],
    source: { observer: { reference: 'Device/1' } },
  },
};

const withChanges = (type: string, changes: Json): Json => ({ ...valid[type], ...changes });

const ext = (e: Json) => ({ extension: [e] });
const text = (div: string, status = 'generated') => ({ text: { status, div } });
const insurance = (e: Json) => ({ insurance: [{ sequence: 1, focal: true, ...e }] });
const contained = (...resources: Json[]) => ({ contained: resources });
const coverage = { reference: 'Coverage/1' };

/**
 * Per type: [title, changes to its valid resource (undefined removes an element),
 * an expression the OperationOutcome must name].
 */
const invalid: Record<string, [string, Json, string][]> = {
  Patient: [
    ['unknown element', { nickname: 'Pete' }, 'Patient.nickname'],
    ['unknown nested element', { name: [{ surname: 'x' }] }, 'Patient.name[0].surname'],
    ['string where boolean expected', { active: 'yes' }, 'Patient.active'],
    ['number where boolean expected', { active: 1 }, 'Patient.active'],
    ['boolean choice as a string', { deceasedBoolean: 'true' }, 'Patient.deceased[x]'],
    ['array where single expected', { gender: ['male'] }, 'Patient.gender'],
    ['single where array expected', { name: { family: 'Chalmers' } }, 'Patient.name'],
    ['null value', { gender: null }, 'Patient.gender'],
    ['null array item', { name: [null] }, 'Patient.name[0]'],
    ['empty array', { name: [] }, 'Patient.name'],
    ['empty object', { name: [{}] }, 'Patient.name[0]'],
    ['empty string', { name: [{ family: '' }] }, 'Patient.name[0].family'],
    ['whitespace-only string', { name: [{ given: ['   '] }] }, 'Patient.name[0].given[0]'],
    ['extension without url', ext({ valueString: 'x' }), 'Patient.extension[0].url'],
    [
      'extension with neither value nor extensions (ext-1)',
      ext({ url: 'urn:x' }),
      'Patient.extension[0]',
    ],
    [
      'extension with two values',
      ext({ url: 'urn:x', valueString: 'a', valueBoolean: true }),
      'Patient.extension[0].value[x]',
    ],
    [
      'primitive extension with an unknown element',
      { _gender: { colour: 'red' } },
      'Patient.gender.colour',
    ],
    [
      'invalid contained resource',
      contained({ resourceType: 'Observation', id: 'o1', status: 'bogus', code: { text: 'x' } }),
      'Patient.contained[0].status',
    ],
    [
      'contained resource of unknown type',
      contained({ resourceType: 'Unicorn', id: 'u1' }),
      'Patient.contained[0].resourceType',
    ],
    [
      'contained resource inside a contained resource (dom-2)',
      contained({
        resourceType: 'Group',
        id: 'g',
        ...contained({ resourceType: 'Group', id: 'h' }),
      }),
      'Patient',
    ],
    ['resourceType missing', { resourceType: undefined }, 'resourceType'],
    ['resourceType of another endpoint', { resourceType: 'Observation' }, 'resourceType'],
    ['narrative without div', { text: { status: 'generated' } }, 'Patient.text.div'],
    ['narrative div outside the XHTML namespace', text('<div>Peter</div>'), 'Patient.text.div'],
    ['narrative that is not a div', text('Peter'), 'Patient.text.div'],
    [
      'Narrative.status "weird"',
      text(`<div xmlns="${XHTML}">Peter</div>`, 'weird'),
      'Patient.text.status',
    ],
    [
      'contact without any details (pat-1)',
      { contact: [{ gender: 'female' }] },
      'Patient.contact[0]',
    ],
    ['gender "robot"', { gender: 'robot' }, 'Patient.gender'],
    ['code with an inner double space', { gender: 'fe  male' }, 'Patient.gender'],
    ['date 2024-02-30', { birthDate: '2024-02-30' }, 'Patient.birthDate'],
    ['date 2023-13-01', { birthDate: '2023-13-01' }, 'Patient.birthDate'],
    ['date 2023-02-29 (not a leap year)', { birthDate: '2023-02-29' }, 'Patient.birthDate'],
    ['date in US format', { birthDate: '02/01/2020' }, 'Patient.birthDate'],
    ['date without zero padding', { birthDate: '2020-2-3' }, 'Patient.birthDate'],
    ['date in year 0000', { birthDate: '0000-01-01' }, 'Patient.birthDate'],
    [
      'unsignedInt -1',
      { photo: [{ contentType: 'image/png', size: -1 }] },
      'Patient.photo[0].size',
    ],
    [
      'base64Binary that is not base64',
      { photo: [{ data: 'not base64!' }] },
      'Patient.photo[0].data',
    ],
    [
      'uri with spaces',
      { identifier: [{ system: 'my system', value: '1' }] },
      'Patient.identifier[0].system',
    ],
  ],
  Observation: [
    ['status missing', { status: undefined }, 'Observation.status'],
    ['code missing', { code: undefined }, 'Observation.code'],
    ['status "bogus"', { status: 'bogus' }, 'Observation.status'],
    [
      'Quantity.comparator "="',
      { valueQuantity: { value: 1, comparator: '=' } },
      'Observation.valueQuantity.comparator',
    ],
    ['unknown choice type', { valueColour: 'red' }, 'Observation.valueColour'],
    [
      'two types for one choice element',
      { valueString: 'a', valueBoolean: true },
      'Observation.value[x]',
    ],
    [
      'value and dataAbsentReason (obs-6)',
      { valueString: 'a', dataAbsentReason: { text: '?' } },
      'Observation',
    ],
    [
      'dateTime with a space separator',
      { effectiveDateTime: '2024-01-15 10:00:00Z' },
      'Observation.effective[x]',
    ],
    [
      'dateTime without seconds',
      { effectiveDateTime: '2024-01-15T10:00Z' },
      'Observation.effective[x]',
    ],
    [
      'dateTime without time zone',
      { effectiveDateTime: '2024-01-15T10:00:00' },
      'Observation.effectiveDateTime',
    ],
    [
      'dateTime at hour 24',
      { effectiveDateTime: '2024-01-15T24:00:00Z' },
      'Observation.effective[x]',
    ],
    ['instant without time zone', { issued: '2024-01-15T10:00:00' }, 'Observation.issued'],
    ['time 25:00:00', { valueTime: '25:00:00' }, 'Observation.value[x]'],
    ['decimal as a string', { valueQuantity: { value: '72.5' } }, 'Observation.value[x].value'],
    ['integer with a fraction', { valueInteger: 1.5 }, 'Observation.value[x]'],
    ['integer as a string', { valueInteger: '3' }, 'Observation.value[x]'],
    ['integer beyond 32 bits', { valueInteger: 2147483648 }, 'Observation.valueInteger'],
  ],
  Claim: [
    ...['patient', 'provider', 'priority', 'insurance', 'created', 'type', 'use', 'status'].map(
      (key): [string, Json, string] => [`${key} missing`, { [key]: undefined }, `Claim.${key}`],
    ),
    [
      'insurance.focal missing',
      { insurance: [{ sequence: 1, coverage }] },
      'Claim.insurance[0].focal',
    ],
    ['use "gift"', { use: 'gift' }, 'Claim.use'],
    ['positiveInt 0', insurance({ sequence: 0, coverage }), 'Claim.insurance[0].sequence'],
    ['created 2024-02-30', { created: '2024-02-30' }, 'Claim.created'],
  ],
  Consent: [
    ...['scope', 'category', 'status'].map((key): [string, Json, string] => [
      `${key} missing`,
      { [key]: undefined },
      `Consent.${key}`,
    ]),
    ['neither policy nor policyRule (ppc-1)', { policyRule: undefined }, 'Consent'],
    ['status "maybe"', { status: 'maybe' }, 'Consent.status'],
  ],
  Provenance: [
    ...['target', 'recorded', 'agent'].map((key): [string, Json, string] => [
      `${key} missing`,
      { [key]: undefined },
      `Provenance.${key}`,
    ]),
    ['agent.who missing', { agent: [{ role: [{ text: 'author' }] }] }, 'Provenance.agent[0].who'],
    ['instant with a date only', { recorded: '2024-01-15' }, 'Provenance.recorded'],
  ],
  AuditEvent: [
    ...['type', 'recorded', 'agent', 'source'].map((key): [string, Json, string] => [
      `${key} missing`,
      { [key]: undefined },
      `AuditEvent.${key}`,
    ]),
    [
      'agent.requestor missing',
      { agent: [{ who: { display: 'x' } }] },
      'AuditEvent.agent[0].requestor',
    ],
    ['action "X"', { action: 'X' }, 'AuditEvent.action'],
    ['instant at hour 25', { recorded: '2024-01-15T25:00:00Z' }, 'AuditEvent.recorded'],
  ],
};

const cases = Object.entries(invalid).flatMap(([type, rows]) =>
  rows.map(([title, changes, expression]) => ({ type, title, changes, expression })),
);

const issuesOf = (body: unknown): OperationOutcomeIssue[] => (body as OperationOutcome).issue ?? [];
const expressions = (body: unknown) => issuesOf(body).flatMap((i) => i.expression ?? []);

async function historyTotal(type: string): Promise<number> {
  const res = await api.get(`/${type}/_history?_count=1`).expect(200);
  return res.body.total as number;
}

describe('create rejects resources the R4 specification forbids', () => {
  it('accepts the valid resources the cases are made from', async () => {
    for (const resource of Object.values(valid)) {
      await api
        .post(`/${resource.resourceType}`)
        .set('Content-Type', FHIR_JSON)
        .send(resource)
        .expect(201);
    }
  });

  it('has a case for at least 30 rules', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases)('$type: $title', async ({ type, changes, expression }) => {
    const before = await historyTotal(type);
    // JSON leaves out undefined properties, so they remove elements.
    const res = await api
      .post(`/${type}`)
      .set('Content-Type', FHIR_JSON)
      .send(withChanges(type, changes));
    expect([400, 422]).toContain(res.status);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(issuesOf(res.body).some((i) => i.severity === 'error')).toBe(true);
    expect(expressions(res.body)).toContain(expression);
    expect(await historyTotal(type)).toBe(before);
  });
});

describe('input the validator library cannot read', () => {
  it.each([
    ['a primitive extension array beside a single value', { _gender: [null, { id: 'x' }] }],
    ['a primitive extension that is not an object', { _gender: 'x' }],
  ])('rejects %s with a 400, not a 500', async (_title, changes) => {
    const before = await historyTotal('Patient');
    const res = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send(withChanges('Patient', changes));
    expect(res.status).toBe(400);
    expect(issuesOf(res.body).some((i) => i.severity === 'error')).toBe(true);
    expect(await historyTotal('Patient')).toBe(before);
  });
});

describe('update rejects invalid resources and stores nothing', () => {
  const put = (id: string, body: Json) =>
    api
      .put(`/Patient/${encodeURIComponent(id)}`)
      .set('Content-Type', FHIR_JSON)
      .send({ ...body, id });

  it.each([
    ['an id with an underscore', 'pat_1'],
    ['an id of 65 characters', 'p'.repeat(65)],
    ['an id with a space', 'pat 1'],
  ])('rejects %s', async (_title, id) => {
    const res = await put(id, valid.Patient!).expect(400);
    expect(expressions(res.body)).toContain('Patient.id');
    await api.get(`/Patient/${encodeURIComponent(id)}`).expect(404);
  });

  it.each([
    ['a bad code', { gender: 'robot' }, 'Patient.gender'],
    ['an impossible date', { birthDate: '2024-02-30' }, 'Patient.birthDate'],
    ['an unknown element', { nickname: 'Pete' }, 'Patient.nickname'],
  ])('rejects a create-on-update with %s', async (_title, changes, expression) => {
    const id = `put-${expression.split('.')[1]}`;
    const res = await put(id, withChanges('Patient', changes)).expect(400);
    expect(expressions(res.body)).toContain(expression);
    await api.get(`/Patient/${id}`).expect(404);
  });

  it('keeps the current version when an update is invalid', async () => {
    await put('put-existing', valid.Patient!).expect(201);
    const res = await put('put-existing', withChanges('Patient', { gender: 'robot' })).expect(400);
    expect(expressions(res.body)).toContain('Patient.gender');
    const current = await api.get('/Patient/put-existing').expect(200);
    expect(current.body.meta.versionId).toBe('1');
    expect(current.body.gender).toBe('male');
  });
});

describe('$validate', () => {
  const validate = (path: string, body: Json) =>
    api.post(path).set('Content-Type', FHIR_JSON).send(body).expect(200);
  const parameters = (...parameter: Json[]): Json => ({ resourceType: 'Parameters', parameter });

  it('answers one information issue for a clean resource', async () => {
    for (const resource of Object.values(valid)) {
      const res = await validate(`/${resource.resourceType}/$validate`, resource);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue).toHaveLength(1);
      expect(res.body.issue[0].severity).toBe('information');
    }
  });

  it('lists every issue with its severity and expression, with status 200', async () => {
    const body = withChanges('Patient', {
      gender: 'robot',
      birthDate: '2024-02-30',
      nickname: 'Pete',
      name: [{ family: '' }],
    });
    const res = await validate('/Patient/$validate', body);
    const errors = issuesOf(res.body).filter((i) => i.severity === 'error');
    expect(errors.map((i) => i.expression?.[0])).toEqual(
      expect.arrayContaining([
        'Patient.gender',
        'Patient.birthDate',
        'Patient.nickname',
        'Patient.name[0].family',
      ]),
    );
    for (const i of issuesOf(res.body)) expect(i.code).toBeTruthy();
  });

  it('reports warnings with their severity too', async () => {
    const res = await validate(
      '/Observation/$validate',
      withChanges('Observation', { subject: { reference: 'Claim/1' } }),
    );
    const warning = issuesOf(res.body).find((i) => i.severity === 'warning');
    expect(warning?.expression).toEqual(['Observation.subject']);
  });

  it('accepts the Parameters form', async () => {
    const clean = await validate(
      '/Patient/$validate',
      parameters({ name: 'resource', resource: valid.Patient }),
    );
    expect(clean.body.issue.map((i: OperationOutcomeIssue) => i.severity)).toEqual(['information']);
    const invalid = await validate(
      '/Patient/$validate',
      parameters({ name: 'resource', resource: withChanges('Patient', { gender: 'robot' }) }),
    );
    expect(expressions(invalid.body)).toContain('Patient.gender');
  });

  it('checks the id for mode=update at instance level', async () => {
    const { body: created } = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send(valid.Patient)
      .expect(201);
    const mismatch = await validate(
      `/Patient/${created.id}/$validate`,
      parameters(
        { name: 'resource', resource: { ...valid.Patient, id: 'someone-else' } },
        { name: 'mode', valueCode: 'update' },
      ),
    );
    const idIssue = issuesOf(mismatch.body).find((i) => i.expression?.[0] === 'Patient.id');
    expect(idIssue?.severity).toBe('error');
    expect(idIssue?.diagnostics).toMatch(/does not match/);
    const missing = await validate(
      `/Patient/${created.id}/$validate`,
      parameters(
        { name: 'resource', resource: valid.Patient },
        { name: 'mode', valueCode: 'update' },
      ),
    );
    expect(expressions(missing.body)).toContain('Patient.id');
    const matching = await validate(
      `/Patient/${created.id}/$validate`,
      parameters(
        { name: 'resource', resource: { ...valid.Patient, id: created.id } },
        { name: 'mode', valueCode: 'update' },
      ),
    );
    expect(matching.body.issue.map((i: OperationOutcomeIssue) => i.severity)).toEqual([
      'information',
    ]);
  });

  it('checks mode=delete against existing and missing resources', async () => {
    const { body: created } = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send(valid.Patient)
      .expect(201);
    const existing = await validate(
      `/Patient/${created.id}/$validate`,
      parameters({ name: 'mode', valueCode: 'delete' }),
    );
    expect(existing.body.issue.map((i: OperationOutcomeIssue) => i.severity)).toEqual([
      'information',
    ]);
    const missing = await validate(
      '/Patient/no-such-patient/$validate',
      parameters({ name: 'mode', valueCode: 'delete' }),
    );
    expect(missing.body.issue[0].severity).toBe('error');
    expect(missing.body.issue[0].code).toBe('not-found');
    await api.get(`/Patient/${created.id}`).expect(200);
    await api
      .post('/Patient/$validate')
      .set('Content-Type', FHIR_JSON)
      .send(parameters({ name: 'mode', valueCode: 'delete' }))
      .expect(400);
  });

  it('validates against a known profile given as a parameter', async () => {
    const weight = withChanges('Observation', { valueQuantity: { value: 72.5, unit: 'kg' } });
    const plain = await validate('/Observation/$validate', weight);
    expect(plain.body.issue.map((i: OperationOutcomeIssue) => i.severity)).toEqual(['information']);
    const profiled = await validate(
      '/Observation/$validate',
      parameters(
        { name: 'resource', resource: weight },
        { name: 'profile', valueUri: VITAL_SIGNS },
      ),
    );
    expect(expressions(profiled.body)).toEqual(
      expect.arrayContaining([
        'Observation.category',
        'Observation.subject',
        'Observation.effective[x]',
      ]),
    );
    const byQuery = await validate(
      `/Observation/$validate?profile=${encodeURIComponent(VITAL_SIGNS)}`,
      weight,
    );
    expect(expressions(byQuery.body)).toContain('Observation.subject');
  });

  it('rejects an unknown profile and an unknown mode with 400', async () => {
    const unknown = await api
      .post('/Observation/$validate')
      .set('Content-Type', FHIR_JSON)
      .send(
        parameters(
          { name: 'resource', resource: valid.Observation },
          { name: 'profile', valueUri: 'http://example.org/StructureDefinition/nope' },
        ),
      )
      .expect(400);
    expect(unknown.body.resourceType).toBe('OperationOutcome');
    expect(expressions(unknown.body)).toContain('profile');
    const mode = await api
      .post('/Observation/$validate')
      .set('Content-Type', FHIR_JSON)
      .send(
        parameters(
          { name: 'resource', resource: valid.Observation },
          { name: 'mode', valueCode: 'replace' },
        ),
      )
      .expect(400);
    expect(expressions(mode.body)).toContain('mode');
  });

  it('stores nothing', async () => {
    const { body: created } = await api
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send(valid.Patient)
      .expect(201);
    const before = await historyTotal('Patient');
    const systemBefore = (await api.get('/_history?_count=1').expect(200)).body.total;
    await validate('/Patient/$validate', valid.Patient!);
    await validate('/Patient/$validate', withChanges('Patient', { gender: 'robot' }));
    await validate(`/Patient/${created.id}/$validate`, {
      ...valid.Patient,
      id: created.id,
      gender: 'female',
    });
    await validate(
      `/Patient/${created.id}/$validate`,
      parameters({ name: 'mode', valueCode: 'delete' }),
    );
    await validate('/Patient/never-stored/$validate', { ...valid.Patient, id: 'never-stored' });
    expect(await historyTotal('Patient')).toBe(before);
    expect((await api.get('/_history?_count=1').expect(200)).body.total).toBe(systemBefore);
    const current = await api.get(`/Patient/${created.id}`).expect(200);
    expect(current.body.meta.versionId).toBe('1');
    expect(current.body.gender).toBe('male');
    await api.get('/Patient/never-stored').expect(404);
  });
});
