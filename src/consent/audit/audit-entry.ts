import { isPrincipal } from '../../auth/principal.js';
import type { Operation, RequestContext, RequestOutcome } from '../../fhir/hooks.js';
import { type AccessDecision, type AccessRecord, UNIDENTIFIED_PATIENT } from '../access-record.js';
import type { AuditedCaller, AuditedRequest } from './balp-audit-events.js';

/**
 * What the audit keeps of one request until its AuditEvents are built: what the request
 * already held, copied compactly. It crosses to the audit thread as JSON, so it holds plain
 * objects, arrays, strings and numbers only.
 * Holds patient references and ids: it stays in this process, never in logs or queues.
 */
export interface AuditEntry {
  requestId: string;
  caller: AuditedCaller | undefined;
  outcome: RequestOutcome;
  operations: Operation[];
  /** The request's decisions, `block` as a decimal string. */
  decisions: Array<Omit<AccessDecision, 'block'> & { block: string }>;
  /**
   * Versioned references returned, in order (only for statuses below 400), each with the
   * patients enforcement decided it for.
   */
  returned: Array<[string, string[]]>;
  /** Date.now() when the response went out. */
  at: number;
}

/** The entry of a finished request (`record` is its access record, if enforcement kept one). */
export function auditEntry(
  ctx: RequestContext,
  outcome: RequestOutcome,
  record: AccessRecord | undefined,
): AuditEntry {
  const principal = ctx.principal;
  const returned: Array<[string, string[]]> = [];
  if (outcome.status < 400 && record) {
    for (const ref of record.returned) returned.push([ref, record.patientsOf.get(ref) ?? []]);
  }
  const decisions: AuditEntry['decisions'] = [];
  for (const d of record?.decisions.values() ?? [])
    decisions.push({ ...d, block: String(d.block) });
  return {
    requestId: ctx.requestId,
    caller: isPrincipal(principal)
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
    decisions,
    returned,
    at: Date.now(),
  };
}

/** An entry as the BALP builder reads it: decisions and returned versions by patient. */
export function auditedRequest(
  entry: AuditEntry,
  server: AuditedRequest['server'],
): AuditedRequest {
  const decisionsByPatient = groupByPatient(
    entry.decisions.map((d) => ({ ...d, block: BigInt(d.block) })),
  );
  if (decisionsByPatient.size === 0) decisionsByPatient.set('', []);
  return {
    requestId: entry.requestId,
    principal: entry.caller,
    outcome: entry.outcome,
    operations: entry.operations,
    decisionsByPatient,
    returnedByPatient: byPatient(entry),
    recorded: new Date(entry.at).toISOString(),
    server,
  };
}

/** Decisions by patient; those for no patient we can name (refusals first) under ''. */
function groupByPatient(decisions: AccessDecision[]): Map<string, AccessDecision[]> {
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
function byPatient(entry: AuditEntry): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [ref, patients] of entry.returned) {
    for (const patient of patients) {
      const refs = out.get(patient);
      if (refs) refs.push(ref);
      else out.set(patient, [ref]);
    }
  }
  return out;
}
