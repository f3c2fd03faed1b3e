import { FhirError, issue } from '../../fhir/errors.js';
import type { InteractionName, RequestContext, RequestOutcome } from '../../fhir/hooks.js';
import { type AccessDecision, type AccessRecord, peekAccessRecord } from '../access-record.js';
import { UNIDENTIFIED_PATIENT } from '../enforcement/register-enforcement.js';
import type { ConsentContext } from '../start-consent.js';
import { AuditWriter } from './audit-writer.js';
import type { AuditedRequest } from './balp-audit-events.js';
import { auditEventsOf } from './group-audit-events.js';

/** What the audit keeps of a request until its flush: nothing it did not already have. */
interface AuditEntry {
  requestId: string;
  principal: unknown;
  outcome: RequestOutcome;
  record: AccessRecord | undefined;
  /** Date.now() when the response went out. */
  at: number;
}

export interface RunningAudit {
  writer: AuditWriter<AuditEntry>;
  stop(): Promise<void>;
}

/** Interactions whose refusal is audited even when no patient was known yet (e.g. 503 fail-closed). */
const READS = new Set<InteractionName>([
  'read',
  'vread',
  'search-type',
  'search-system',
  'history-instance',
  'history-type',
  'history-system',
  'verify',
  'everything',
  // A patch reads the current version (its test ops, the representation it returns).
  'patch',
  'batch',
  'transaction',
]);

/**
 * The audit of every access decision: after each HTTP request, one BALP AuditEvent per patient
 * enforcement decided on (permit or deny), and one for a read refused before any patient was
 * known (403, 503); written in batches by an AuditWriter. Requests without decisions (metadata,
 * writes, data outside any patient compartment) are not audited here: their writes carry a
 * Provenance. The writer's own writes are not HTTP requests, so they are never audited.
 */
export function startAudit(context: ConsentContext): RunningAudit {
  const { services, ledger, logger, config } = context;
  const server = {
    name: 'fhir-ledger',
    chainId: ledger.chainId,
    consentRegistry: ledger.consentRegistry,
  };
  const writer = new AuditWriter<AuditEntry>({
    store: services.store,
    logger,
    flushMs: config.auditFlushMs,
    // Built at flush, grouped first: a request keeps only what it already had until then.
    toEvents: (entries) => auditEventsOf(entries.map(auditedRequest), config.auditGroup),
  });
  const auditedRequest = (entry: AuditEntry): AuditedRequest => {
    const { record, outcome } = entry;
    const decisionsByPatient = groupByPatient(record?.decisions.values() ?? []);
    if (decisionsByPatient.size === 0) decisionsByPatient.set('', []);
    return {
      requestId: entry.requestId,
      principal: entry.principal,
      outcome,
      operations: record?.operations ?? [],
      decisionsByPatient,
      returnedByPatient:
        outcome.status < 400 && record ? byPatient(record) : new Map<string, string[]>(),
      recorded: new Date(entry.at).toISOString(),
      server,
    };
  };

  // Fail closed on the audit too: when AuditEvents cannot be written fast enough (or at all),
  // reads stop before the backlog outgrows memory. Those refusals are not audited themselves.
  const backlogRefused = new WeakSet<RequestContext>();
  services.hooks.beforeOperation.push(async (op, ctx) => {
    if (writer.pending < config.auditMaxPending || !READS.has(op.interaction)) return;
    backlogRefused.add(ctx);
    throw new FhirError(503, [
      issue('transient', 'The access audit is behind; patient data is not served. Retry later.'),
    ]);
  });

  // Only what the request already holds is kept until the flush builds the AuditEvents.
  services.hooks.afterRequest.push(async (ctx, outcome) => {
    if (backlogRefused.has(ctx)) return;
    const record = peekAccessRecord(ctx);
    if (!(record && record.decisions.size > 0) && !refused(outcome)) return;
    writer.add({
      requestId: ctx.requestId,
      principal: ctx.principal,
      outcome,
      record,
      at: Date.now(),
    });
  });

  return { writer, stop: () => writer.stop() };
}

function refused(outcome: RequestOutcome): boolean {
  return (outcome.status === 403 || outcome.status === 503) && READS.has(outcome.interaction);
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
