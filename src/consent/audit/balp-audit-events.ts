import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding } from 'fhir/r4.js';
import type { InteractionName, Operation, RequestOutcome } from '../../fhir/hooks.js';
import type { AccessDecision } from '../access-record.js';

const BALP = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit';
const EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const INTERACTION = 'http://hl7.org/fhir/restful-interaction';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const ENTITY_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const BALP_ENTITY_TYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
/** `entity.what.identifier.system` of a consent decision; the value is the registry (CAIP-10). */
export const CONSENT_REGISTRY = 'urn:fhir-ledger:consent-registry';

/** URI of a ConsentRegistry grant in `agent.policy` (searchable with `AuditEvent?policy=`). */
export const GRANT_POLICY_PREFIX = 'urn:fhir-ledger:consent-grant:';
/** Beyond this many returned resources of one patient, the rest is summarised by a count. */
export const MAX_LISTED = 50;

/** Who called, as the AuditEvent names them (the fields of the request's Principal it uses). */
export interface AuditedCaller {
  issuer: string;
  clientId: string;
  subject: string;
  fhirUser?: string;
  purposeOfUse: string[];
}

/** Everything one request tells the audit. */
export interface AuditedRequest {
  requestId: string;
  /** Undefined when the request had no verified principal. */
  principal: AuditedCaller | undefined;
  outcome: RequestOutcome;
  operations: Operation[];
  /** Decisions grouped by patient reference; '' holds a refusal before any patient was known. */
  decisionsByPatient: Map<string, AccessDecision[]>;
  /** Versioned references returned, by patient reference. */
  returnedByPatient: Map<string, string[]>;
  recorded: string;
  /** This server, as observer and destination. */
  server: { name: string; chainId: number; consentRegistry: string };
}

/** One BALP-shaped AuditEvent per patient the request touched (IHE BALP Read/Query profiles). */
export function balpAuditEvents(request: AuditedRequest): AuditEvent[] {
  return [...request.decisionsByPatient].map(([patient, decisions]) =>
    auditEvent(request, patient, decisions),
  );
}

/** The AuditEvent of one request about one patient ('' for a refusal before any patient). */
export function auditEvent(
  request: AuditedRequest,
  patient: string,
  decisions: AccessDecision[],
): AuditEvent {
  const { outcome, principal } = request;
  const query = isQuery(outcome.interaction);
  const permitted = permittedOutcome(outcome.status, decisions);
  const grants = [...new Set(decisions.flatMap((d) => d.grants))];
  const breakTheGlass = decisions.some((d) => d.basis === 'break-the-glass');
  const profile = `${BALP}.${patient ? 'Patient' : ''}${query ? 'Query' : 'Read'}`;
  const purposes = principal?.purposeOfUse ?? [];
  return {
    resourceType: 'AuditEvent',
    meta: {
      profile: [profile],
      ...(breakTheGlass
        ? { security: [{ system: ACT_CODE, code: 'BTG', display: 'break the glass' }] }
        : {}),
    },
    type: { system: EVENT_TYPE, code: 'rest' },
    subtype: [{ system: INTERACTION, code: restfulInteraction(outcome.interaction) }],
    action: query || !['read', 'vread'].includes(outcome.interaction) ? 'E' : 'R',
    recorded: request.recorded,
    // 0 success; 4 minor failure: the access was refused (BALP records denials this way).
    outcome: permitted ? '0' : '4',
    outcomeDesc: describe(decisions, outcome.status, permitted),
    purposeOfEvent: (purposes.length ? purposes : ['TREAT']).map((code) => ({
      coding: [{ system: ACT_REASON, code }],
    })),
    agent: agents(principal, outcome, grants, request.server.name),
    source: {
      observer: { display: request.server.name },
      type: [{ system: SOURCE_TYPE, code: '4' }],
    },
    entity: [
      ...(patient ? [patientEntity(patient)] : []),
      {
        type: { system: BALP_ENTITY_TYPE, code: 'XrequestId' },
        what: { identifier: { value: request.requestId } },
      },
      // A refusal before any patient was known has nothing else to say what was asked.
      ...(query || !patient ? [queryEntity(outcome.url)] : []),
      ...dataEntities(request, patient, permitted),
      ...decisions.map((d) => decisionEntity(d, request.server)),
    ],
  };
}

/** Whether the AuditEvent says the request was permitted (BALP outcome 0). */
export function permittedOutcome(status: number, decisions: AccessDecision[]): boolean {
  return status < 400 && decisions.some((d) => d.permitted);
}

export function isQuery(interaction: InteractionName): boolean {
  return (
    interaction.startsWith('search') ||
    interaction.startsWith('history') ||
    interaction === 'everything'
  );
}

/** Our route names are the R4 restful-interaction codes, but for the operations. */
export function restfulInteraction(interaction: InteractionName): string {
  return ['ledger', 'verify', 'everything'].includes(interaction) ? 'operation' : interaction;
}

function describe(decisions: AccessDecision[], status: number, permitted: boolean): string {
  const bases = [...new Set(decisions.map((d) => d.basis))];
  if (bases.length === 0 && status === 503) bases.push('unavailable');
  return `${permitted ? 'permitted' : 'denied'} (${[...bases, `HTTP ${status}`].join('; ')})`;
}

function agents(
  principal: AuditedCaller | undefined,
  outcome: RequestOutcome,
  grants: string[],
  serverName: string,
): AuditEventAgent[] {
  const policy = grants.map((id) => `${GRANT_POLICY_PREFIX}${id}`);
  const network = outcome.clientAddress
    ? { network: { address: outcome.clientAddress, type: '2' as const } }
    : {};
  const server: AuditEventAgent = {
    type: role(DCM, '110152'),
    who: { display: serverName },
    requestor: false,
  };
  if (!principal) {
    return [{ type: role(DCM, '110153'), who: { display: 'unknown' }, requestor: true }, server];
  }
  const user = userAgent(principal, policy);
  const client: AuditEventAgent = {
    type: role(DCM, '110153'),
    who: {
      identifier: { system: principal.issuer, value: principal.clientId },
      display: `client ${principal.clientId}`,
    },
    requestor: !user,
    ...(user || !policy.length ? {} : { policy }),
    ...network,
  };
  return user ? [user, client, server] : [client, server];
}

/** The person (fhirUser) the client acts for: the recipient of the data, and the requestor. */
function userAgent(principal: AuditedCaller, policy: string[]): AuditEventAgent | undefined {
  if (!principal.fhirUser) return undefined;
  return {
    type: role(PARTICIPATION, 'IRCP'),
    who: { reference: principal.fhirUser },
    altId: principal.subject,
    requestor: true,
    ...(policy.length ? { policy } : {}),
  };
}

function role(system: string, code: string) {
  return { coding: [{ system, code }] };
}

/** BALP's patient entity: also what puts the AuditEvent in the patient's compartment. */
function patientEntity(patient: string): AuditEventEntity {
  return {
    what: { reference: patient },
    type: entityType('1'),
    role: entityRole('1'),
  };
}

/** The query asked (`url` relative to the base), for searches, history and refusals. */
export function queryEntity(url: string): AuditEventEntity {
  return {
    type: entityType('2'),
    role: entityRole('24'),
    description: url,
    query: Buffer.from(url, 'utf8').toString('base64'),
  };
}

/**
 * What was returned (versioned references), or, when nothing was, what was asked for by a
 * read; beyond MAX_LISTED resources, one entity with the count of the rest.
 */
function dataEntities(
  request: AuditedRequest,
  patient: string,
  permitted: boolean,
): AuditEventEntity[] {
  const { references, more } = dataListed(request, patient, permitted);
  const listed = references.map(dataEntity);
  if (more > 0) listed.push(moreEntity(more));
  return listed;
}

/** The references `dataEntities` lists and how many more were returned beyond MAX_LISTED. */
export function dataListed(
  request: AuditedRequest,
  patient: string,
  permitted: boolean,
): { references: string[]; more: number } {
  const returned = permitted ? (request.returnedByPatient.get(patient) ?? []) : [];
  if (returned.length === 0) {
    const asked = request.operations
      .filter((op) => op.id && op.resourceType && !isQuery(op.interaction))
      .map((op) => `${op.resourceType}/${op.id}`);
    return { references: asked, more: 0 };
  }
  return {
    references: returned.length > MAX_LISTED ? returned.slice(0, MAX_LISTED) : returned,
    more: Math.max(0, returned.length - MAX_LISTED),
  };
}

/** A resource returned (a versioned reference), or asked for by a read. */
export function dataEntity(reference: string): AuditEventEntity {
  return { what: { reference }, type: entityType('2'), role: entityRole('4') };
}

/** Stands for `count` returned resources that are not listed one by one. */
export function moreEntity(count: number): AuditEventEntity {
  return {
    type: entityType('2'),
    role: entityRole('4'),
    description: `${count} more resources returned`,
    detail: [{ type: 'count', valueString: String(count) }],
  };
}

/**
 * Which consent grants and which mirrored chain block decided, and on what basis. The registry
 * is named as a CAIP-10 account (`eip155:<chainId>:<address>`), so a verifier knows where to look.
 */
export function decisionEntity(
  decision: AccessDecision,
  server: AuditedRequest['server'],
  blocks: bigint[] = [decision.block],
): AuditEventEntity {
  const detail = (type: string, value: string) => ({ type, valueString: value });
  return {
    what: {
      identifier: {
        system: CONSENT_REGISTRY,
        value: `eip155:${server.chainId}:${server.consentRegistry}`,
      },
    },
    type: entityType('2'),
    role: entityRole('13'),
    name: `consent decision: ${decision.basis}`,
    description: `${decision.permitted ? 'permit' : 'deny'} ${decision.resourceType} x${decision.count}`,
    detail: [
      detail('basis', decision.basis),
      ...blocks.map((block) => detail('block', block.toString())),
      ...decision.grants.map((id) => detail('grant', id)),
    ],
  };
}

// Codes without displays: an AuditEvent is written per read, and every byte is hashed and indexed.
function entityType(code: string): Coding {
  return { system: ENTITY_TYPE, code };
}

function entityRole(code: string): Coding {
  return { system: ENTITY_ROLE, code };
}
