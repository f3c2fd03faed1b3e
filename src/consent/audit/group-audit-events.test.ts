import type { AuditEvent, AuditEventEntity } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { groupPerRequestEvents } from '../../../test/support/per-event-grouping.js';
import { patientCompartment } from '../../auth/patient-compartment.js';
import type { Principal } from '../../auth/principal.js';
import { loadDefinitions } from '../../fhir/definitions.js';
import type { InteractionName } from '../../fhir/hooks.js';
import { createParamResolver } from '../../fhir/search/search-parameters.js';
import { validateResource } from '../../fhir/validation/validate-resource.js';
import type { AccessDecision } from '../access-record.js';
import { type AuditedCaller, type AuditedRequest, balpAuditEvents } from './balp-audit-events.js';
import { auditEventsOf, REQUEST_NUMBERS, REQUESTS } from './group-audit-events.js';

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

const server = { name: 'fhir-ledger', chainId: 31337, consentRegistry: '0xabc' };

/** One read of `observation` by `principal`, as the audit keeps it. */
function read(
  requestId: string,
  observation: string,
  options: {
    principal?: Principal;
    block?: bigint;
    patient?: string;
    at?: string;
    denied?: boolean;
  } = {},
): AuditedRequest {
  const patient = options.patient ?? 'Patient/a';
  const request: AuditedRequest = {
    requestId,
    principal: options.principal ?? practitioner,
    outcome: {
      status: options.denied ? 404 : 200,
      method: 'GET',
      interaction: 'read',
      resourceType: 'Observation',
      url: `/Observation/${observation}`,
      clientAddress: '10.0.0.9',
    },
    operations: [{ interaction: 'read', resourceType: 'Observation', id: observation }],
    decisionsByPatient: new Map([
      [
        patient,
        [
          decision({
            patient,
            block: options.block ?? 42n,
            ...(options.denied ? { permitted: false, basis: 'no-grant', grants: [] } : {}),
          }),
        ],
      ],
    ]),
    returnedByPatient: options.denied
      ? new Map()
      : new Map([[patient, [`Observation/${observation}/_history/1`]]]),
    recorded: options.at ?? '2026-01-02T03:04:05.000Z',
    server,
  };
  return request;
}

const requestsOf = (entity: AuditEventEntity | undefined) =>
  entity?.detail?.find((d) => d.type === REQUESTS)?.valueString?.split(' ');
/** The ids of the requests a listed entity of `event` names by number. */
const receivers = (event: AuditEvent, entity: AuditEventEntity) => {
  const ids = requestsOf(event.entity!.find((e) => e.type?.code === 'XrequestId'))!;
  const numbers = entity.detail?.find((d) => d.type === REQUEST_NUMBERS)?.valueString;
  return numbers?.split(' ').map((n) => ids[Number(n) - 1]);
};
const byRole = (event: AuditEvent, code: string) =>
  (event.entity ?? []).filter((e) => e.role?.code === code);

describe('auditEventsOf', () => {
  it('leaves an access that shares nothing as BALP built it', () => {
    const alone = read('r1', 'o1');
    expect(auditEventsOf([alone], true)).toEqual(balpAuditEvents(alone));
  });

  it('merges reads of one caller and patient into one valid event that still says who got what', () => {
    const events = [
      read('r1', 'o1', { at: '2026-01-02T03:04:05.000Z', block: 42n }),
      read('r2', 'o2', { at: '2026-01-02T03:04:05.100Z', block: 43n }),
      read('r3', 'o1', { at: '2026-01-02T03:04:05.150Z', block: 43n }),
    ];
    const [merged, ...rest] = auditEventsOf(events, true);
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
      byRole(merged!, '4').map((e) => [e.what?.reference, receivers(merged!, e)]),
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
    const denied = read('r4', 'o4', { denied: true });
    const events = [
      read('r1', 'o1'),
      read('r2', 'o2', { principal: other }),
      read('r3', 'o3', { patient: 'Patient/b' }),
      denied,
      read('r5', 'o5'),
    ];
    const grouped = auditEventsOf(events, true);
    expect(grouped).toHaveLength(4);
    const requests = grouped.map((e) => {
      const entity = e.entity!.find((x) => x.type?.code === 'XrequestId')!;
      return requestsOf(entity) ?? [entity.what?.identifier?.value];
    });
    expect(requests).toEqual([['r1', 'r5'], ['r2'], ['r3'], ['r4']]);
  });

  it('starts another event beyond the request cap', () => {
    const events = Array.from({ length: 7 }, (_, n) => read(`r${n}`, `o${n}`));
    const grouped = auditEventsOf(events, true, 3);
    expect(grouped.map((e) => byRole(e, '4').length)).toEqual([3, 3, 1]);
  });

  it('stores each request and patient alone when grouping is off', () => {
    const events = [read('r1', 'o1'), read('r2', 'o2')];
    expect(auditEventsOf(events, false)).toEqual(events.flatMap(balpAuditEvents));
  });

  it('builds exactly what merging the per-request events built, on ~5,000 varied requests in runs', () => {
    // The reference: every request's BALP events, merged by the grouping this module replaced
    // (test/support/per-event-grouping.ts). Grouped first, the module must store the same.
    const random = seeded(7);
    const pick = <T>(values: readonly T[]) => values[Math.floor(random() * values.length)]!;
    const principals: Array<AuditedCaller | undefined> = [
      practitioner,
      { ...practitioner, purposeOfUse: [] },
      { ...practitioner, purposeOfUse: ['TREAT', 'ETREAT'] },
      { ...practitioner, fhirUser: undefined },
      { ...practitioner, clientId: 'other-app' },
      undefined,
    ];
    const interactions: InteractionName[] = [
      'read',
      'vread',
      'search-type',
      'history-instance',
      'everything',
      'patch',
      'verify',
    ];
    const varied = Array.from({ length: 3000 }, (_, n): AuditedRequest => {
      const patients = pick([[''], ['Patient/a'], ['Patient/b'], ['Patient/a', 'Patient/b']]);
      const status = pick([200, 200, 200, 404, 403, 503]);
      const interaction = pick(interactions);
      const decisionsByPatient = new Map(
        patients.map((patient) => [
          patient,
          Array.from({ length: patient ? 1 + Math.floor(random() * 2) : pick([0, 1]) }, () =>
            decision({
              patient: patient || 'Patient/?',
              resourceType: pick(['Observation', 'Provenance']),
              permitted: random() < 0.8,
              basis: pick(['grant', 'custodian', 'no-grant', 'break-the-glass'] as const),
              grants: pick([[], [`0x${'01'.repeat(32)}`], [`0x${'02'.repeat(32)}`]]),
              block: BigInt(40 + Math.floor(random() * 4)),
              count: 1 + Math.floor(random() * 3),
            }),
          ),
        ]),
      );
      const returnedByPatient = new Map(
        patients.map((patient) => [
          patient,
          Array.from(
            { length: pick([0, 1, 2, 60]) },
            () => `Observation/o${Math.floor(random() * 70)}/_history/1`,
          ),
        ]),
      );
      return {
        requestId: `r${n}`,
        principal: pick(principals),
        outcome: {
          status,
          method: 'GET',
          interaction,
          url: pick(['/Observation/o1', '/Observation?patient=a', '/Patient/a/$everything']),
          clientAddress: pick(['10.0.0.9', '10.0.0.10']),
        },
        operations: [{ interaction, resourceType: 'Observation', id: pick([undefined, 'o1']) }],
        decisionsByPatient,
        returnedByPatient,
        recorded: new Date(
          Date.UTC(2026, 0, 2, 3, 4, 5, Math.floor(random() * 1000)),
        ).toISOString(),
        server,
      };
    });
    // Under load most requests repeat the access before them: runs of the same access (new ids,
    // counts and blocks), and repeats that differ in one thing that keeps them apart.
    const requests = varied.flatMap((request) => {
      const run = [request];
      for (let k = 1, length = pick([1, 1, 2, 4]); k < length; k++) {
        const change = pick(['none', 'none', 'address', 'grants', 'status'] as const);
        run.push({
          ...request,
          requestId: `${request.requestId}.${k}`,
          outcome: {
            ...request.outcome,
            ...(change === 'address' ? { clientAddress: '10.0.0.11' } : {}),
            ...(change === 'status' ? { status: request.outcome.status === 200 ? 404 : 200 } : {}),
          },
          decisionsByPatient: new Map(
            [...request.decisionsByPatient].map(([patient, decisions]) => [
              patient,
              decisions.map((d) => ({
                ...d,
                count: d.count + k,
                block: d.block + BigInt(k),
                ...(change === 'grants' ? { grants: [`0x${'03'.repeat(32)}` as const] } : {}),
              })),
            ]),
          ),
        });
      }
      return run;
    });
    const perRequest = requests.flatMap(balpAuditEvents);
    for (const cap of [100, 4]) {
      const grouped = auditEventsOf(requests, true, cap);
      expect(grouped).toEqual(groupPerRequestEvents(perRequest, cap));
      // Not a trivial partition: many events merged several requests, many stayed alone.
      const merged = grouped.filter((e) => e.period).length;
      expect(merged).toBeGreaterThan(100);
      expect(grouped.length - merged).toBeGreaterThan(100);
    }
  });
});

/** mulberry32: a repeatable sequence in [0, 1). */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
