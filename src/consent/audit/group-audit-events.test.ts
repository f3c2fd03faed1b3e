import type { AuditEvent, AuditEventEntity } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { patientCompartment } from '../../auth/patient-compartment.js';
import type { Principal } from '../../auth/principal.js';
import { loadDefinitions } from '../../fhir/definitions.js';
import { createParamResolver } from '../../fhir/search/search-parameters.js';
import { validateResource } from '../../fhir/validation/validate-resource.js';
import type { AccessDecision } from '../access-record.js';
import { type AuditedRequest, balpAuditEvents } from './balp-audit-events.js';
import { groupAuditEvents, REQUESTS } from './group-audit-events.js';

const definitions = loadDefinitions();
const params = createParamResolver(definitions);

const practitioner: Principal = {
  issuer: 'https://idp.example.org',
  subject: 'user-17',
  clientId: 'ehr-app',
  scopes: [],
  scopeText: 'user/*.rs',
  fhirUser: 'Practitioner/p1',
  purposeOfUse: ['TREAT'],
};

function decision(overrides: Partial<AccessDecision> = {}): AccessDecision {
  return {
    patient: 'Patient/a',
    resourceType: 'Observation',
    permitted: true,
    basis: 'grant',
    grants: [`0x${'01'.repeat(32)}`],
    block: 42n,
    count: 1,
    ...overrides,
  };
}

/** The AuditEvent of one read of `observation` by `principal`. */
function read(
  requestId: string,
  observation: string,
  options: { principal?: Principal; block?: bigint; patient?: string; at?: string } = {},
): AuditEvent {
  const patient = options.patient ?? 'Patient/a';
  const request: AuditedRequest = {
    requestId,
    principal: options.principal ?? practitioner,
    outcome: {
      status: 200,
      method: 'GET',
      interaction: 'read',
      resourceType: 'Observation',
      url: `/Observation/${observation}`,
      clientAddress: '10.0.0.9',
    },
    operations: [{ interaction: 'read', resourceType: 'Observation', id: observation }],
    decisionsByPatient: new Map([[patient, [decision({ patient, block: options.block ?? 42n })]]]),
    returnedByPatient: new Map([[patient, [`Observation/${observation}/_history/1`]]]),
    recorded: options.at ?? '2026-01-02T03:04:05.000Z',
    server: { name: 'fhir-ledger', chainId: 31337, consentRegistry: '0xabc' },
  };
  return balpAuditEvents(request)[0]!;
}

const requestsOf = (entity: AuditEventEntity | undefined) =>
  entity?.detail?.find((d) => d.type === REQUESTS)?.valueString?.split(' ');
const byRole = (event: AuditEvent, code: string) =>
  (event.entity ?? []).filter((e) => e.role?.code === code);

describe('groupAuditEvents', () => {
  it('leaves an access that shares nothing as BALP built it', () => {
    const alone = read('r1', 'o1');
    expect(groupAuditEvents([structuredClone(alone)])).toEqual([alone]);
  });

  it('merges reads of one caller and patient into one valid event that still says who got what', () => {
    const events = [
      read('r1', 'o1', { at: '2026-01-02T03:04:05.000Z', block: 42n }),
      read('r2', 'o2', { at: '2026-01-02T03:04:05.100Z', block: 43n }),
      read('r3', 'o1', { at: '2026-01-02T03:04:05.150Z', block: 43n }),
    ];
    const [merged, ...rest] = groupAuditEvents(events);
    expect(rest).toEqual([]);
    expect(validateResource(merged!, definitions).issues).toEqual([]);
    expect(merged!.period).toEqual({
      start: '2026-01-02T03:04:05.000Z',
      end: '2026-01-02T03:04:05.150Z',
    });
    expect(merged!.recorded).toBe('2026-01-02T03:04:05.150Z');
    // Still in the patient's compartment, with one patient entity.
    expect(byRole(merged!, '1').map((e) => e.what?.reference)).toEqual(['Patient/a']);
    expect(patientCompartment({ ...merged!, id: 'x' }, 'a', params)).toBe('inside');
    // Every request is named, in order; each version returned once, naming who received it.
    const requestEntity = merged!.entity!.find((e) => e.type?.code === 'XrequestId');
    expect(requestsOf(requestEntity)).toEqual(['r1', 'r2', 'r3']);
    const returned = Object.fromEntries(
      byRole(merged!, '4').map((e) => [e.what?.reference, requestsOf(e)]),
    );
    expect(returned).toEqual({
      'Observation/o1/_history/1': ['r1', 'r3'],
      'Observation/o2/_history/1': ['r2'],
    });
    // One decision entity: the three decisions counted, every block they were made at.
    const [decided] = byRole(merged!, '13');
    expect(decided!.description).toBe('permit Observation x3');
    expect(decided!.detail?.filter((d) => d.type === 'block').map((d) => d.valueString)).toEqual([
      '42',
      '43',
    ]);
    expect(decided!.detail?.filter((d) => d.type === 'grant')).toHaveLength(1);
  });

  it('keeps accesses apart when the caller, the patient or the outcome differ', () => {
    const other: Principal = { ...practitioner, fhirUser: 'Practitioner/p2', subject: 'user-18' };
    const denied = read('r4', 'o4');
    denied.outcome = '4';
    denied.outcomeDesc = 'denied (no-grant; HTTP 404)';
    const events = [
      read('r1', 'o1'),
      read('r2', 'o2', { principal: other }),
      read('r3', 'o3', { patient: 'Patient/b' }),
      denied,
      read('r5', 'o5'),
    ];
    const grouped = groupAuditEvents(events);
    expect(grouped).toHaveLength(4);
    const requests = grouped.map((e) => {
      const entity = e.entity!.find((x) => x.type?.code === 'XrequestId')!;
      return requestsOf(entity) ?? [entity.what?.identifier?.value];
    });
    expect(requests).toEqual([['r1', 'r5'], ['r2'], ['r3'], ['r4']]);
  });

  it('starts another event beyond the request cap', () => {
    const events = Array.from({ length: 7 }, (_, n) => read(`r${n}`, `o${n}`));
    const grouped = groupAuditEvents(events, 3);
    expect(grouped.map((e) => byRole(e, '4').length)).toEqual([3, 3, 1]);
  });
});
