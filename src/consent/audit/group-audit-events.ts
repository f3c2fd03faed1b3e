import type { AuditEvent, AuditEventEntity, AuditEventEntityDetail } from 'fhir/r4.js';
import type { AccessDecision } from '../access-record.js';
import {
  type AuditedRequest,
  auditEvent,
  dataEntity,
  dataListed,
  decisionEntity,
  isQuery,
  moreEntity,
  permittedOutcome,
  queryEntity,
  restfulInteraction,
} from './balp-audit-events.js';

/**
 * At most this many requests share one AuditEvent; more start another. Each stored version is
 * indexed and anchored: at 100, a practitioner's app reading 1,500 records a second made ~15
 * AuditEvents a second, and their anchoring showed in the read rate. At 500 an event stays
 * around 40 kB.
 */
export const MAX_GROUPED_REQUESTS = 500;

/** `entity.detail.type` listing request ids (space-separated) in a merged AuditEvent. */
export const REQUESTS = 'requests';
const INTERACTION = 'http://hl7.org/fhir/restful-interaction';

/** One request's part about one patient: one AuditEvent, alone or merged with others. */
interface Facet {
  request: AuditedRequest;
  patient: string;
  decisions: AccessDecision[];
}

/**
 * The AuditEvents of a flush of requests: one per request and patient (`balpAuditEvents`), or,
 * with `group`, the events that record the same access merged into one. The same access is
 * one caller (user, client, network address, purposes), one patient, the same outcome, profile
 * and consent basis (bases, grants, resource types decided on). Under load a practitioner's app
 * reads hundreds of records a second; one stored AuditEvent per request cost as much as the
 * read itself.
 *
 * A merged event keeps what each request did, compactly: one request-id entity whose `detail`
 * `requests` lists every request id (space-separated, in order), each query asked and each
 * version returned once, with a `detail` `requests` naming the requests that asked or received
 * it; `period` spans the requests; decision entities add their counts and list every block
 * decided at. An event that shares its key with no other is BALP's own shape.
 *
 * Built from the requests, not from their per-request events: grouping first and building each
 * stored event once costs a fraction of building every request's event and merging them.
 */
export function auditEventsOf(
  requests: AuditedRequest[],
  group: boolean,
  maxRequests = MAX_GROUPED_REQUESTS,
): AuditEvent[] {
  const open = new Map<string, Facet[]>();
  const groups: Facet[][] = [];
  for (const request of requests) {
    const caller = group ? callerKey(request) : '';
    for (const [patient, decisions] of request.decisionsByPatient) {
      const facet = { request, patient, decisions };
      if (!group) {
        groups.push([facet]);
        continue;
      }
      const key = `${caller}\u0001${patient}\u0001${facetKey(facet)}`;
      let members = open.get(key);
      if (!members || members.length >= maxRequests) {
        members = [];
        open.set(key, members);
        groups.push(members);
      }
      members.push(facet);
    }
  }
  return groups.map((members) =>
    members.length === 1
      ? auditEvent(members[0]!.request, members[0]!.patient, members[0]!.decisions)
      : merge(members),
  );
}

/** The caller as the AuditEvent's agents and purposes name it (with a known client's address). */
function callerKey({ principal, outcome }: AuditedRequest): string {
  if (!principal) return '\u0002';
  const { issuer, clientId, fhirUser, subject, purposeOfUse } = principal;
  const purposes = purposeOfUse.length ? purposeOfUse.join(' ') : 'TREAT';
  return `${issuer}\u0002${clientId}\u0002${fhirUser ?? ''}\u0002${subject}\u0002${purposes}\u0002${outcome.clientAddress ?? ''}`;
}

/**
 * What else makes two events one: profile and action (from the interaction), the HTTP status
 * (in `outcomeDesc`), and the decisions in order (basis, permit or deny, type, grants: from
 * them come outcome, `outcomeDesc`, `meta.security` and the agents' `policy`).
 */
function facetKey({ request, decisions }: Facet): string {
  const { interaction, status } = request.outcome;
  const action = interaction === 'read' || interaction === 'vread' ? 'R' : 'E';
  let key = `${isQuery(interaction) ? 'Q' : 'R'}${action}${status}`;
  for (const d of decisions) key += `\u0001${decisionKey(d)}`;
  return key;
}

/** A decision as grouped: basis, permit or deny, type and grants (not count or block). */
function decisionKey(d: AccessDecision): string {
  return `${d.basis} ${d.permitted ? 1 : 0} ${d.resourceType} ${d.grants.join(' ')}`;
}

function merge(members: Facet[]): AuditEvent {
  const first = members[0]!;
  const event = auditEvent(first.request, first.patient, first.decisions);
  const subtypes = new Set<string>();
  let start = first.request.recorded;
  let end = start;
  for (const { request } of members) {
    subtypes.add(restfulInteraction(request.outcome.interaction));
    if (request.recorded < start) start = request.recorded;
    if (request.recorded > end) end = request.recorded;
  }
  return {
    ...event,
    subtype: [...subtypes].map((code) => ({ system: INTERACTION, code })),
    recorded: end,
    period: { start, end },
    entity: mergedEntities(members, event.entity ?? []),
  };
}

function mergedEntities(members: Facet[], firstEntities: AuditEventEntity[]): AuditEventEntity[] {
  const { server } = members[0]!.request;
  const requests: string[] = [];
  // Queries (`q` + URL) and data (`d` + reference), in order of first appearance.
  const listed = new Map<string, { entity: () => AuditEventEntity; requests: string[] }>();
  const list = (key: string, entity: () => AuditEventEntity, request: string) => {
    const seen = listed.get(key);
    if (!seen) listed.set(key, { entity, requests: [request] });
    else if (seen.requests[seen.requests.length - 1] !== request) seen.requests.push(request);
  };
  let unlisted = 0;
  const decisions = new Map<
    string,
    { decision: AccessDecision; count: number; blocks: bigint[] }
  >();
  for (const { request, patient, decisions: own } of members) {
    const id = request.requestId;
    requests.push(id);
    const { url, interaction, status } = request.outcome;
    if (isQuery(interaction) || !patient) list(`q${url}`, () => queryEntity(url), id);
    const data = dataListed(request, patient, permittedOutcome(status, own));
    for (const reference of data.references) list(`d${reference}`, () => dataEntity(reference), id);
    unlisted += data.more;
    for (const d of own) {
      const key = decisionKey(d);
      const seen = decisions.get(key);
      if (!seen) decisions.set(key, { decision: d, count: d.count, blocks: [d.block] });
      else {
        seen.count += d.count;
        if (!seen.blocks.includes(d.block)) seen.blocks.push(d.block);
      }
    }
  }
  const named = (ids: string[]): AuditEventEntityDetail => ({
    type: REQUESTS,
    valueString: ids.join(' '),
  });
  const patient = firstEntities.filter((e) => e.role?.code === '1');
  const requestEntity = firstEntities.find((e) => e.type?.code === 'XrequestId')!;
  return [
    ...patient,
    { ...requestEntity, description: `${requests.length} requests`, detail: [named(requests)] },
    ...[...listed.values()].map(({ entity, requests }) => ({
      ...entity(),
      detail: [named(requests)],
    })),
    ...(unlisted > 0 ? [moreEntity(unlisted)] : []),
    ...[...decisions.values()].map(({ decision, count, blocks }) =>
      decisionEntity({ ...decision, count }, server, blocks.sort(compareBigInt)),
    ),
  ];
}

function compareBigInt(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
