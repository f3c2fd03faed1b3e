import { FhirError, issue } from '../../fhir/errors.js';
import {
  createHooks,
  type InteractionName,
  type RequestContext,
  type RequestOutcome,
} from '../../fhir/hooks.js';
import { createResourceStore } from '../../fhir/storage/resource-store.js';
import { registerProvenance } from '../../provenance/record-provenance.js';
import { peekAccessRecord } from '../access-record.js';
import type { ConsentContext } from '../start-consent.js';
import { AuditLog } from './audit-log.js';
import { auditedRequest } from './audited-request.js';

export interface RunningAudit {
  /** The audit's buffer and writer (its counters serve tests and the benchmark). */
  writer: AuditLog;
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
 * known (403, 503); grouped as requests finish, built and written in batches (`AuditLog`).
 * Requests without decisions (metadata, writes, data outside any patient compartment) are not
 * audited here: their writes carry a Provenance. The audit's own writes are not HTTP requests,
 * so they are never audited.
 */
export function startAudit(context: ConsentContext): RunningAudit {
  const { services, ledger, logger, config } = context;
  const server = {
    name: 'fhir-ledger',
    chainId: ledger.chainId,
    consentRegistry: ledger.consentRegistry,
  };
  // The audit's store writes AuditEvents only, for no HTTP request: its one listener records
  // their anchor outbox rows (no enforcement, no Provenance; see record-provenance.ts).
  const hooks = createHooks();
  registerProvenance(hooks, services.definitions);
  const store = createResourceStore(services.db, hooks, services.params, (err) => {
    const { name, code } = (err ?? {}) as { name?: string; code?: string };
    logger.error({ error: name, code }, 'audit: afterCommit hook failed');
  });
  const writer = new AuditLog({
    store,
    flushMs: config.auditFlushMs,
    group: config.auditGroup,
    logger,
    // The versions it stored have outbox rows: the relay claims them now, not at its next tick.
    onWritten: () => ledger.wakeRelay(),
  });

  // Fail closed on the audit too: when AuditEvents cannot be written fast enough (or at all),
  // reads stop before the backlog outgrows memory. Those refusals are not audited themselves.
  const backlogRefused = new WeakSet<RequestContext>();
  services.hooks.beforeOperation.push((op, ctx) => {
    if (writer.pending < config.auditMaxPending || !READS.has(op.interaction)) return;
    backlogRefused.add(ctx);
    throw new FhirError(503, [
      issue('transient', 'The access audit is behind; patient data is not served. Retry later.'),
    ]);
  });

  services.hooks.afterRequest.push((ctx, outcome) => {
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
