import type { AuditEvent, AuditEventEntity, AuditEventEntityDetail } from 'fhir/r4.js';

/** At most this many requests share one AuditEvent; more start another. */
const MAX_GROUPED_REQUESTS = 100;

const REQUEST_ID = 'XrequestId';
/** `entity.detail.type` listing request ids (space-separated) in a merged AuditEvent. */
const REQUESTS = 'requests';
/** `entity.detail.type` of a listed entity: the numbers (from 1) of its requests in that list. */
const REQUEST_NUMBERS = 'request-numbers';

/**
 * The audit's grouping as it was until per-request events stopped being built: kept as the
 * reference `auditEventsOf` (src/consent/audit/group-audit-events.ts) is tested against.
 *
 * Merges the AuditEvents of one flush that record the same access: one caller (user, client,
 * network address, purposes), one patient, the same outcome, profile and consent basis (bases,
 * grants, resource types decided on). Under load a practitioner's app reads hundreds of records
 * a second; one stored AuditEvent per request cost as much as the read itself.
 *
 * The merged event keeps what each request did, compactly: one request-id entity whose `detail`
 * `requests` lists every request id (space-separated, in order), each query asked and each
 * version returned once, with a `detail` `request-numbers` giving the numbers (in that list,
 * from 1) of the requests that asked or received it; `period` spans the requests; decision entities add their counts and list every block
 * decided at. An event that shares its key with no other passes unchanged (BALP's own shape).
 */
export function groupPerRequestEvents(
  events: AuditEvent[],
  maxRequests = MAX_GROUPED_REQUESTS,
): AuditEvent[] {
  const open = new Map<string, AuditEvent[]>();
  const groups: AuditEvent[][] = [];
  for (const event of events) {
    const key = groupKey(event);
    let group = open.get(key);
    if (!group || group.length >= maxRequests) {
      group = [];
      open.set(key, group);
      groups.push(group);
    }
    group.push(event);
  }
  return groups.map((group) => (group.length === 1 ? group[0]! : merge(group)));
}

/** Everything that must be equal for two events to be one; the per-request parts left out. */
function groupKey(event: AuditEvent): string {
  const { meta, type, action, outcome, outcomeDesc, purposeOfEvent, agent, source } = event;
  const entities = event.entity ?? [];
  return JSON.stringify([
    meta,
    type,
    action,
    outcome,
    outcomeDesc,
    purposeOfEvent,
    agent,
    source,
    entities.filter(isPatient),
    entities.filter(isDecision).map(decisionKey),
  ]);
}

function merge(group: AuditEvent[]): AuditEvent {
  const first = group[0]!;
  const subtypes = new Map(
    group.flatMap((e) => e.subtype ?? []).map((s) => [`${s.system}|${s.code}`, s]),
  );
  const recorded = group.map((e) => e.recorded).sort();
  return {
    ...first,
    subtype: [...subtypes.values()],
    recorded: recorded[recorded.length - 1]!,
    period: { start: recorded[0]!, end: recorded[recorded.length - 1]! },
    entity: mergedEntities(group),
  };
}

function mergedEntities(group: AuditEvent[]): AuditEventEntity[] {
  const patient = (group[0]!.entity ?? []).filter(isPatient);
  const requests: string[] = [];
  let requestEntity: AuditEventEntity | undefined;
  const listed = new Map<string, { entity: AuditEventEntity; requests: number[] }>();
  let unlisted = 0;
  let unlistedEntity: AuditEventEntity | undefined;
  const decisions = new Map<
    string,
    { entity: AuditEventEntity; count: number; blocks: bigint[] }
  >();
  for (const event of group) {
    const entities = event.entity ?? [];
    const own = entities.find(isRequestId);
    const request = own?.what?.identifier?.value ?? '';
    requestEntity ??= own;
    const number = requests.push(request);
    for (const entity of entities) {
      if (isPatient(entity) || isRequestId(entity)) continue;
      if (isDecision(entity)) {
        addDecision(decisions, entity);
        continue;
      }
      const more = entity.detail?.find((d) => d.type === 'count');
      if (!entity.what && more) {
        unlisted += Number(more.valueString);
        unlistedEntity ??= entity;
        continue;
      }
      const key = JSON.stringify([entity.what, entity.role, entity.query, entity.description]);
      const seen = listed.get(key);
      if (seen) {
        if (seen.requests[seen.requests.length - 1] !== number) seen.requests.push(number);
      } else listed.set(key, { entity, requests: [number] });
    }
  }
  const named = (type: string, values: Array<string | number>): AuditEventEntityDetail => ({
    type,
    valueString: values.join(' '),
  });
  return [
    ...patient,
    ...(requestEntity
      ? [
          {
            ...requestEntity,
            description: `${requests.length} requests`,
            detail: [named(REQUESTS, requests)],
          },
        ]
      : []),
    ...[...listed.values()].map(({ entity, requests }) => ({
      ...entity,
      detail: [...(entity.detail ?? []), named(REQUEST_NUMBERS, requests)],
    })),
    ...(unlistedEntity
      ? [
          {
            ...unlistedEntity,
            description: `${unlisted} more resources returned`,
            detail: [{ type: 'count', valueString: String(unlisted) }],
          },
        ]
      : []),
    ...[...decisions.values()].map(({ entity, count, blocks }) =>
      decisionEntity(entity, count, blocks),
    ),
  ];
}

function addDecision(
  decisions: Map<string, { entity: AuditEventEntity; count: number; blocks: bigint[] }>,
  entity: AuditEventEntity,
): void {
  const key = JSON.stringify(decisionKey(entity));
  const count = Number(/ x(\d+)$/.exec(entity.description ?? '')?.[1] ?? 1);
  const blocks = (entity.detail ?? [])
    .filter((d) => d.type === 'block')
    .map((d) => BigInt(d.valueString!));
  const seen = decisions.get(key);
  if (!seen) {
    decisions.set(key, { entity, count, blocks });
    return;
  }
  seen.count += count;
  for (const block of blocks) if (!seen.blocks.includes(block)) seen.blocks.push(block);
}

/** A decision entity with the group's total count and every block it was decided at. */
function decisionEntity(entity: AuditEventEntity, count: number, blocks: bigint[]) {
  const details = entity.detail ?? [];
  const sorted = [...blocks].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    ...entity,
    description: (entity.description ?? '').replace(/ x\d+$/, ` x${count}`),
    detail: [
      ...details.filter((d) => d.type === 'basis'),
      ...sorted.map((b) => ({ type: 'block', valueString: b.toString() })),
      ...details.filter((d) => d.type !== 'basis' && d.type !== 'block'),
    ],
  };
}

/** A decision as grouped: what decided, basis, permit/deny and type, grants (not count or block). */
function decisionKey(entity: AuditEventEntity): unknown {
  return [
    entity.what,
    entity.name,
    (entity.description ?? '').replace(/ x\d+$/, ''),
    (entity.detail ?? []).filter((d) => d.type !== 'block'),
  ];
}

function isPatient(entity: AuditEventEntity): boolean {
  return entity.role?.code === '1';
}

function isDecision(entity: AuditEventEntity): boolean {
  return entity.role?.code === '13';
}

function isRequestId(entity: AuditEventEntity): boolean {
  return entity.type?.code === REQUEST_ID;
}
