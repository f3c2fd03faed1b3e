import type { Resource } from 'fhir/r4.js';
import { compartmentPatients, isCompartmentType } from '../../auth/patient-compartment.js';
import { FhirError, issue } from '../../fhir/errors.js';
import type { InteractionName, RequestContext, RequestOutcome } from '../../fhir/hooks.js';
import type { ParamResolver } from '../../fhir/search/search-parameters.js';
import { type AccessDecision, peekAccessRecord } from '../access-record.js';
import { UNIDENTIFIED_PATIENT } from '../enforcement/register-enforcement.js';
import type { ConsentContext } from '../start-consent.js';
import { AuditWriter } from './audit-writer.js';
import { balpAuditEvents } from './balp-audit-events.js';

export interface RunningAudit {
  writer: AuditWriter;
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
  const writer = new AuditWriter({
    store: services.store,
    logger,
    flushMs: config.auditFlushMs,
    group: config.auditGroup,
  });
  const returned = new WeakMap<RequestContext, Resource[]>();
  const server = {
    name: 'fhir-ledger',
    chainId: ledger.chainId,
    consentRegistry: ledger.consentRegistry,
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

  services.hooks.beforeReturn.push(async (resource, ctx) => {
    const list = returned.get(ctx);
    if (list) list.push(resource);
    else returned.set(ctx, [resource]);
    return resource;
  });

  services.hooks.afterRequest.push(async (ctx, outcome) => {
    if (backlogRefused.has(ctx)) return;
    const record = peekAccessRecord(ctx);
    const decisionsByPatient = groupByPatient(record?.decisions.values() ?? []);
    if (decisionsByPatient.size === 0) {
      if (!refused(outcome)) return;
      decisionsByPatient.set('', []);
    }
    const returnedByPatient =
      outcome.status < 400
        ? byPatient(
            returned.get(ctx) ?? [],
            [...decisionsByPatient.keys()],
            record?.patientsOf,
            services.params,
          )
        : new Map<string, string[]>();
    writer.add(
      balpAuditEvents({
        requestId: ctx.requestId,
        principal: ctx.principal,
        outcome,
        operations: record?.operations ?? [],
        decisionsByPatient,
        returnedByPatient,
        recorded: new Date().toISOString(),
        server,
      }),
    );
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
 * decided each version for (a Provenance is its targets' patients' data). A version it did not
 * decide on for reading (the new version a PATCH returns) is filed by its compartment; with one
 * patient decided on, everything of a patient data type is that patient's.
 */
function byPatient(
  resources: Resource[],
  patients: string[],
  decidedFor: Map<string, string[]> | undefined,
  params: ParamResolver,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (patient: string, ref: string) => {
    const refs = out.get(patient);
    if (refs) refs.push(ref);
    else out.set(patient, [ref]);
  };
  const only = patients.length === 1 && patients[0] ? patients[0] : undefined;
  for (const resource of resources) {
    const ref = `${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`;
    const decided = decidedFor?.get(ref);
    if (decided) {
      for (const patient of decided) add(patient, ref);
    } else if (only) {
      if (resource.resourceType === 'Patient' || isCompartmentType(resource.resourceType)) {
        add(only, ref);
      }
    } else {
      for (const id of compartmentPatients(resource, params)?.ids ?? []) add(`Patient/${id}`, ref);
    }
  }
  return out;
}
