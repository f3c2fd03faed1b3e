import { describe, expect, it } from 'vitest';
import { patientCompartment } from '../../auth/patient-compartment.js';
import type { Principal } from '../../auth/principal.js';
import { loadDefinitions } from '../../fhir/definitions.js';
import { createParamResolver } from '../../fhir/search/search-parameters.js';
import { validateResource } from '../../fhir/validation/validate-resource.js';
import type { AccessDecision } from '../access-record.js';
import { type AuditedRequest, balpAuditEvents, MAX_LISTED } from './balp-audit-events.js';

const definitions = loadDefinitions();
const params = createParamResolver(definitions);

const practitioner: Principal = {
  issuer: 'https://idp.example.org',
  subject: 'user-17',
  clientId: 'ehr-app',
  scopes: [],
  scopeText: 'user/*.rs',
  fhirUser: 'Practitioner/p1',
  purposeOfUse: ['ETREAT'],
};

function decision(patient: string, overrides: Partial<AccessDecision> = {}): AccessDecision {
  return {
    patient,
    resourceType: 'Observation',
    permitted: true,
    basis: 'grant',
    grants: [`0x${'01'.repeat(32)}`],
    block: 42n,
    count: 1,
    ...overrides,
  };
}

function request(overrides: Partial<AuditedRequest> = {}): AuditedRequest {
  return {
    requestId: 'req-1',
    principal: practitioner,
    outcome: {
      status: 200,
      method: 'GET',
      interaction: 'search-type',
      resourceType: 'Observation',
      url: '/Observation?code=8867-4',
      clientAddress: '10.0.0.9',
    },
    operations: [{ interaction: 'search-type', resourceType: 'Observation' }],
    decisionsByPatient: new Map([['Patient/a', [decision('Patient/a')]]]),
    returnedByPatient: new Map([['Patient/a', ['Observation/o1/_history/2']]]),
    recorded: '2026-01-02T03:04:05.000Z',
    server: { name: 'fhir-ledger', chainId: 31337, consentRegistry: '0xabc' },
    ...overrides,
  };
}

describe('balpAuditEvents', () => {
  it('builds valid R4 AuditEvents in the patient compartment', () => {
    const [event] = balpAuditEvents(request());
    const result = validateResource(event!, definitions);
    expect(result.issues).toEqual([]);
    expect(patientCompartment({ ...event!, id: 'x' }, 'a', params)).toBe('inside');
    expect(patientCompartment({ ...event!, id: 'x' }, 'b', params)).toBe('outside');
  });

  it('names the user (fhirUser) as the requesting recipient, the client as source, the purpose of use', () => {
    const [event] = balpAuditEvents(request());
    const [user, client, server] = event!.agent;
    expect(user?.who?.reference).toBe('Practitioner/p1');
    expect(user?.requestor).toBe(true);
    expect(user?.policy).toHaveLength(1);
    expect(client?.who?.identifier).toEqual({
      system: 'https://idp.example.org',
      value: 'ehr-app',
    });
    expect(client?.requestor).toBe(false);
    expect(client?.network).toEqual({ address: '10.0.0.9', type: '2' });
    expect(server?.type?.coding?.[0]?.code).toBe('110152');
    expect(event!.purposeOfEvent?.[0]?.coding?.[0]?.code).toBe('ETREAT');
  });

  it('flags break-the-glass with a security label', () => {
    const decisions = new Map([
      ['Patient/a', [decision('Patient/a', { basis: 'break-the-glass', grants: [] })]],
    ]);
    const [event] = balpAuditEvents(request({ decisionsByPatient: decisions }));
    expect(event!.meta?.security).toEqual([
      expect.objectContaining({
        code: 'BTG',
        system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
      }),
    ]);
    expect(event!.outcome).toBe('0');
    const [plain] = balpAuditEvents(request());
    expect(plain!.meta?.security).toBeUndefined();
  });

  it('lists up to MAX_LISTED returned resources and counts the rest', () => {
    const refs = Array.from({ length: MAX_LISTED + 7 }, (_, i) => `Observation/o${i}/_history/1`);
    const [event] = balpAuditEvents(request({ returnedByPatient: new Map([['Patient/a', refs]]) }));
    const data = (event!.entity ?? []).filter((e) => e.role?.code === '4');
    expect(data.filter((e) => e.what)).toHaveLength(MAX_LISTED);
    expect(data.find((e) => !e.what)?.detail).toEqual([{ type: 'count', valueString: '7' }]);
    expect(validateResource(event!, definitions).issues).toEqual([]);
  });

  it('one AuditEvent per patient; a denied patient gets outcome 4 and no returned data', () => {
    const events = balpAuditEvents(
      request({
        decisionsByPatient: new Map([
          ['Patient/a', [decision('Patient/a')]],
          ['Patient/b', [decision('Patient/b', { permitted: false, basis: 'deny-grant' })]],
        ]),
        returnedByPatient: new Map([['Patient/a', ['Observation/o1/_history/1']]]),
      }),
    );
    expect(events.map((e) => e.outcome)).toEqual(['0', '4']);
    expect(events[1]!.outcomeDesc).toBe('denied (deny-grant; HTTP 200)');
    expect((events[1]!.entity ?? []).filter((e) => e.role?.code === '4')).toEqual([]);
  });

  it('describes a refusal before any patient was known, with the query', () => {
    const [event] = balpAuditEvents(
      request({
        outcome: { ...request().outcome, status: 503 },
        decisionsByPatient: new Map([['', []]]),
      }),
    );
    expect(event!.outcome).toBe('4');
    expect(event!.outcomeDesc).toBe('denied (unavailable; HTTP 503)');
    expect(event!.meta?.profile?.[0]).toMatch(/IHE\.BasicAudit\.Query$/);
    expect(event!.entity?.some((e) => e.role?.code === '1')).toBe(false);
    expect(validateResource(event!, definitions).issues).toEqual([]);
  });
});
