import { FhirError, issue } from '../../fhir/errors.js';
import type { InteractionName, RequestContext, RequestOutcome } from '../../fhir/hooks.js';
import { peekAccessRecord } from '../access-record.js';
import type { ConsentContext } from '../start-consent.js';
import { AuditThread } from './audit-thread.js';
import { auditedRequest } from './audited-request.js';

export interface RunningAudit {
  /** The audit thread's handle (its counters serve tests and the benchmark). */
  writer: AuditThread;
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
 * known (403, 503); built and written in batches on the audit thread (`AuditThread`). Requests without decisions (metadata,
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
  // Grouping, building and storing the AuditEvents run on a thread of their own.
  const writer = new AuditThread({
    databaseUrl: services.db.url,
    flushMs: config.auditFlushMs,
    group: config.auditGroup,
    logger,
    // The versions it stored have outbox rows: the relay claims them now, not at its next tick.
    onWritten: () => ledger.wakeRelay(),
  });

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

  services.hooks.afterRequest.push(async (ctx, outcome) => {
    if (backlogRefused.has(ctx)) return;
    const record = peekAccessRecord(ctx);
    if ((record && record.decisions.size > 0) || refused(outcome)) {
      writer.add(auditedRequest(ctx, outcome, record, server));
    }
  });

  return { writer, stop: () => writer.stop() };
}

function refused(outcome: RequestOutcome): boolean {
  return (outcome.status === 403 || outcome.status === 503) && READS.has(outcome.interaction);
}
