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
 * At most this many requests share one AuditEvent; more start another. Each stored version costs
 * about the same to index, hash, write and anchor whatever its size (~4 ms of CPU and ~5 ms of
 * PostgreSQL): with a 1 s flush, a practitioner's app reading 2,000 records a second makes one
 * AuditEvent a second of ~100 kB (its request ids, 37 bytes each, are most of it).
 */
export const MAX_GROUPED_REQUESTS = 2000;

/** What of the caller makes requests one access (with its purposes and network address). */
const CALLER_FIELDS = ['issuer', 'clientId', 'fhirUser', 'subject'] as const;
/** What of a decision makes it the same in a merged event (with its grants). */
const DECISION_FIELDS = ['basis', 'permitted', 'resourceType'] as const;

/** `entity.detail.type` listing request ids (space-separated) in a merged AuditEvent. */
export const REQUESTS = 'requests';
/**
 * `entity.detail.type` of a query or version in a merged AuditEvent: which requests asked for
 * or received it, as their numbers (from 1, space-separated) in the `requests` list.
 */
export const REQUEST_NUMBERS = 'request-numbers';
const INTERACTION = 'http://hl7.org/fhir/restful-interaction';

/** One request's part about one patient: one AuditEvent, alone or merged with others. */
interface Facet {
  request: AuditedRequest;
  patient: string;
  decisions: AccessDecision[];
  /** `decisionKey` of each decision. */
  decisionKeys: string[];
}

/**
 * The requests that will be one AuditEvent, folded in as they come: what a merged event says
 * of them, and the first one whole (the event when it stays alone, the base of a merged one).
 */
export interface AuditGroup {
  first: Facet;
  /** Request ids, in order. */
  requests: string[];
  interactions: Set<string>;
  start: string;
  end: string;
  /**
   * Queries (`?` + URL) and data (by reference), in order of first appearance, with the
   * numbers of the requests (1 = the first of `requests`) that asked for or received them.
   */
  listed: Map<string, { query: boolean; value: string; requests: number[] }>;
  /** Returned resources beyond those listed. */
  unlisted: number;
  /** By `decisionKey`: the decision first seen, the counts added, every block decided at. */
  decisions: Map<string, { decision: AccessDecision; count: number; blocks: bigint[] }>;
}

/**
 * The AuditEvents of a flush of requests being formed, request by request, on the request
 * thread: one per request and patient (`balpAuditEvents`), or, with `group`, one for the
 * requests that record the same access. The same access is one caller (user, client, network
 * address, purposes), one patient, the same outcome, profile and consent basis (bases, grants,
 * resource types decided on). Under load a practitioner's app reads hundreds of records a
 * second; one stored AuditEvent per request cost as much as the read itself.
 *
 * A merged event keeps what each request did, compactly: one request-id entity whose `detail`
 * `requests` lists every request id (space-separated, in order), each query asked and each
 * version returned once, with a `detail` `request-numbers` giving the numbers (in that list,
 * from 1) of the requests that asked or received it; `period` spans the requests; decision
 * entities add their counts and list every block decided at. An event that shares its key with
 * no other is BALP's own shape.
 *
 * A request only adds its ids and references to its group (a few map lookups): nothing of it is
 * copied or built until its group is, once per stored event (`groupEvent`).
 */
export class AuditGroups {
  readonly #group: boolean;
  readonly #maxRequests: number;
  #open = new Map<string, AuditGroup>();
  #groups: AuditGroup[] = [];
  /** The last caller's key: requests mostly come from the caller before. */
  #lastCaller: { request: AuditedRequest; key: string } | undefined;
  /**
   * The last one-patient request's facet and the group it joined: the next request that
   * records the same access joins it without a key to build (most requests under load).
   */
  #last: { facet: Facet; group: AuditGroup } | undefined;

  constructor(group: boolean, maxRequests = MAX_GROUPED_REQUESTS) {
    this.#group = group;
    this.#maxRequests = maxRequests;
  }

  /** Adds a request's parts, one per patient, each to its group; returns how many. */
  add(request: AuditedRequest): number {
    const last = this.#last;
    if (last && request.decisionsByPatient.size === 1) {
      const [patient, decisions] = request.decisionsByPatient.entries().next().value!;
      if (
        last.group.requests.length < this.#maxRequests &&
        sameFacet(last.facet, request, patient, decisions)
      ) {
        const facet = { request, patient, decisions, decisionKeys: last.facet.decisionKeys };
        fold(last.group, facet);
        this.#last = { facet, group: last.group };
        return 1;
      }
    }
    const caller = this.#group ? this.#callerKey(request) : '';
    let added = 0;
    for (const [patient, decisions] of request.decisionsByPatient) {
      const facet = { request, patient, decisions, decisionKeys: decisions.map(decisionKey) };
      added++;
      if (!this.#group) {
        this.#groups.push(openGroup(facet));
        continue;
      }
      const key = `${caller}\u0001${patient}\u0001${facetKey(facet)}`;
      let group = this.#open.get(key);
      if (!group || group.requests.length >= this.#maxRequests) {
        group = openGroup(facet);
        this.#open.set(key, group);
        this.#groups.push(group);
      } else fold(group, facet);
      this.#last = request.decisionsByPatient.size === 1 ? { facet, group } : undefined;
    }
    return added;
  }

  #callerKey(request: AuditedRequest): string {
    const last = this.#lastCaller;
    if (last && sameCaller(last.request, request)) return last.key;
    const key = callerKey(request);
    this.#lastCaller = { request, key };
    return key;
  }

  /** The groups formed since the last call, in order of their first request; starts afresh. */
  take(): AuditGroup[] {
    const groups = this.#groups;
    this.#groups = [];
    this.#open = new Map();
    this.#last = undefined;
    return groups;
  }
}

/** The stored AuditEvents of some requests, as the audit forms them (`AuditGroups`). */
export function auditEventsOf(
  requests: AuditedRequest[],
  group: boolean,
  maxRequests = MAX_GROUPED_REQUESTS,
): AuditEvent[] {
  const groups = new AuditGroups(group, maxRequests);
  for (const request of requests) groups.add(request);
  return groups.take().map(groupEvent);
}

/** A group's AuditEvent: BALP's own when it holds one request, merged otherwise. */
export function groupEvent(group: AuditGroup): AuditEvent {
  const { request, patient, decisions } = group.first;
  const event = auditEvent(request, patient, decisions);
  if (group.requests.length === 1) return event;
  return {
    ...event,
    subtype: [...group.interactions].map((code) => ({ system: INTERACTION, code })),
    recorded: group.end,
    period: { start: group.start, end: group.end },
    entity: mergedEntities(group, event.entity ?? []),
  };
}

function openGroup(first: Facet): AuditGroup {
  const group: AuditGroup = {
    first,
    requests: [],
    interactions: new Set(),
    start: first.request.recorded,
    end: first.request.recorded,
    listed: new Map(),
    unlisted: 0,
    decisions: new Map(),
  };
  fold(group, first);
  return group;
}

/** What a merged event keeps of one more request. */
function fold(group: AuditGroup, { request, patient, decisions, decisionKeys }: Facet): void {
  const number = group.requests.push(request.requestId);
  const { url, interaction, status } = request.outcome;
  group.interactions.add(restfulInteraction(interaction));
  if (request.recorded < group.start) group.start = request.recorded;
  if (request.recorded > group.end) group.end = request.recorded;
  const list = (query: boolean, value: string) => {
    // A version's reference is its own key (no string to build); a query's URL gets a '?'.
    const key = query ? `?${value}` : value;
    const seen = group.listed.get(key);
    if (!seen) group.listed.set(key, { query, value, requests: [number] });
    else if (seen.requests[seen.requests.length - 1] !== number) seen.requests.push(number);
  };
  if (isQuery(interaction) || !patient) list(true, url);
  const data = dataListed(request, patient, permittedOutcome(status, decisions));
  for (const reference of data.references) list(false, reference);
  group.unlisted += data.more;
  for (let i = 0; i < decisions.length; i++) {
    const d = decisions[i]!;
    const key = decisionKeys[i]!;
    const seen = group.decisions.get(key);
    if (!seen) group.decisions.set(key, { decision: d, count: d.count, blocks: [d.block] });
    else {
      seen.count += d.count;
      if (!seen.blocks.includes(d.block)) seen.blocks.push(d.block);
    }
  }
}

/**
 * Whether a request's part about `patient` records the same access as `facet` (the same
 * `callerKey`, patient and `facetKey`), compared field by field.
 */
function sameFacet(
  facet: Facet,
  request: AuditedRequest,
  patient: string,
  decisions: AccessDecision[],
): boolean {
  const before = facet.request.outcome;
  const { outcome } = request;
  if (
    facet.patient !== patient ||
    before.interaction !== outcome.interaction ||
    before.status !== outcome.status ||
    facet.decisions.length !== decisions.length ||
    !sameCaller(facet.request, request)
  )
    return false;
  return decisions.every((d, i) => sameDecision(facet.decisions[i]!, d));
}

/** Whether two decisions have the same `decisionKey`. */
function sameDecision(a: AccessDecision, b: AccessDecision): boolean {
  return DECISION_FIELDS.every((f) => a[f] === b[f]) && sameList(a.grants, b.grants);
}

/** Whether two requests have the same `callerKey` (compared field by field: no key to build). */
function sameCaller(a: AuditedRequest, b: AuditedRequest): boolean {
  const p = a.principal;
  const q = b.principal;
  if (!p || !q) return p === q;
  return (
    a.outcome.clientAddress === b.outcome.clientAddress &&
    CALLER_FIELDS.every((f) => p[f] === q[f]) &&
    sameList(p.purposeOfUse, q.purposeOfUse)
  );
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** The caller as the AuditEvent's agents and purposes name it (with a known client's address). */
function callerKey({ principal, outcome }: AuditedRequest): string {
  if (!principal) return '\u0002';
  const { purposeOfUse } = principal;
  const purposes = purposeOfUse.length ? purposeOfUse.join(' ') : 'TREAT';
  const fields = CALLER_FIELDS.map((f) => principal[f] ?? '').join('\u0002');
  return `${fields}\u0002${purposes}\u0002${outcome.clientAddress ?? ''}`;
}

/**
 * What else makes two events one: profile and action (from the interaction), the HTTP status
 * (in `outcomeDesc`), and the decisions in order (basis, permit or deny, type, grants: from
 * them come outcome, `outcomeDesc`, `meta.security` and the agents' `policy`).
 */
function facetKey({ request, decisionKeys }: Facet): string {
  const { interaction, status } = request.outcome;
  const action = interaction === 'read' || interaction === 'vread' ? 'R' : 'E';
  let key = `${isQuery(interaction) ? 'Q' : 'R'}${action}${status}`;
  for (const d of decisionKeys) key += `\u0001${d}`;
  return key;
}

/** A decision as grouped: basis, permit or deny, type and grants (not count or block). */
function decisionKey(d: AccessDecision): string {
  return [...DECISION_FIELDS.map((f) => String(d[f])), ...d.grants].join(' ');
}

function mergedEntities(group: AuditGroup, firstEntities: AuditEventEntity[]): AuditEventEntity[] {
  const { server } = group.first.request;
  const detail = (type: string, values: Array<string | number>): AuditEventEntityDetail => ({
    type,
    valueString: values.join(' '),
  });
  const patient = firstEntities.filter((e) => e.role?.code === '1');
  const requestEntity = firstEntities.find((e) => e.type?.code === 'XrequestId')!;
  return [
    ...patient,
    {
      ...requestEntity,
      description: `${group.requests.length} requests`,
      detail: [detail(REQUESTS, group.requests)],
    },
    ...[...group.listed.values()].map(({ query, value, requests }) => ({
      ...(query ? queryEntity(value) : dataEntity(value)),
      detail: [detail(REQUEST_NUMBERS, requests)],
    })),
    ...(group.unlisted > 0 ? [moreEntity(group.unlisted)] : []),
    ...[...group.decisions.values()].map(({ decision, count, blocks }) =>
      decisionEntity({ ...decision, count }, server, [...blocks].sort(compareBigInt)),
    ),
  ];
}

function compareBigInt(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
