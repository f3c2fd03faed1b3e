import { isPrincipal } from '../../auth/principal.js';
import type { RequestContext, RequestOutcome } from '../../fhir/hooks.js';
import { type AccessDecision, type AccessRecord, UNIDENTIFIED_PATIENT } from '../access-record.js';
import type { AuditedRequest } from './balp-audit-events.js';

/**
 * What the audit keeps of a finished request (`record` is its access record, if enforcement
 * kept one): what the request already held, by patient, as the AuditEvent builder reads it.
 * Holds patient references and ids: it stays in this process, never in logs or queues.
 */
export function auditedRequest(
  ctx: RequestContext,
  outcome: RequestOutcome,
  record: AccessRecord | undefined,
  server: AuditedRequest['server'],
): AuditedRequest {
  const principal = ctx.principal;
  const decisionsByPatient = groupByPatient(record?.decisions.values() ?? []);
  if (decisionsByPatient.size === 0) decisionsByPatient.set('', []);
  return {
    requestId: ctx.requestId,
    principal: isPrincipal(principal)
      ? {
          issuer: principal.issuer,
          clientId: principal.clientId,
          subject: principal.subject,
          fhirUser: principal.fhirUser,
          purposeOfUse: principal.purposeOfUse,
        }
      : undefined,
    outcome,
    operations: record?.operations ?? [],
    decisionsByPatient,
    returnedByPatient: outcome.status < 400 && record ? byPatient(record) : new Map(),
    recorded: nowIso(),
    server,
  };
}

let lastMs = Number.NaN;
let lastIso = '';
/** The time as an ISO instant; built once per millisecond (requests finish many to the ms). */
function nowIso(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** Decisions by patient; those for no patient we can name (refusals first) under ''. */
function groupByPatient(decisions: Iterable<AccessDecision>): Map<string, AccessDecision[]> {
  const byPatient = new Map<string, AccessDecision[]>();
  for (const decision of decisions) {
    const patient = decision.patient === UNIDENTIFIED_PATIENT ? '' : decision.patient;
    const list = byPatient.get(patient);
    if (list) list.push(decision);
    else byPatient.set(patient, [decision]);
  }
  return byPatient;
}

/**
 * Versioned references of the returned patient data, by patient: the patients enforcement
 * decided each version for (a Provenance is its targets' patients' data). A version with no
 * patient (a Practitioner) is nobody's data.
 */
function byPatient(record: AccessRecord): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const ref of record.returned) {
    for (const patient of record.patientsOf.get(ref) ?? []) {
      const refs = out.get(patient);
      if (refs) refs.push(ref);
      else out.set(patient, [ref]);
    }
  }
  return out;
}
