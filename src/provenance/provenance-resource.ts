import type { Coding, Provenance, ProvenanceAgent } from 'fhir/r4.js';
import { isPrincipal } from '../auth/principal.js';
import type { StoredVersion } from '../fhir/hooks.js';
import { versionRef } from './content-hash.js';

const DATA_OPERATION = 'http://terminology.hl7.org/CodeSystem/v3-DataOperation';
const PARTICIPANT_TYPE = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

/** Shown as the agent when no authenticated caller is known (before SMART auth is on). */
export const UNAUTHENTICATED_AGENT = 'unauthenticated caller (no access token)';

/**
 * The Provenance of stored versions of one activity: `target` their versioned references,
 * `recorded` the latest lastUpdated, `activity` CREATE/UPDATE/DELETE, the caller as author,
 * the token's purpose of use as `reason`; what the client sent in X-Provenance (already
 * validated) is kept.
 */
export function provenanceFor(
  versions: StoredVersion[],
  principal: unknown,
  fromClient: Provenance | undefined,
): Provenance {
  const {
    id: _id,
    meta: _meta,
    target: _target,
    recorded: _recorded,
    ...given
  } = fromClient ?? {
    resourceType: 'Provenance' as const,
    agent: [],
    target: [],
    recorded: '',
  };
  const caller = callerAgent(principal);
  const reason = purposeOfUse(principal).map((code) => ({
    coding: [{ system: ACT_REASON, code }],
  }));
  return {
    ...given,
    resourceType: 'Provenance',
    target: versions.map((version) => ({ reference: versionRef(version) })),
    recorded: versions
      .map((v) => v.lastUpdated)
      .sort()
      .at(-1)!,
    activity: given.activity ?? { coding: [activity(versions[0]!)] },
    agent: [caller, ...(given.agent ?? [])],
    ...(reason.length || given.reason ? { reason: [...(given.reason ?? []), ...reason] } : {}),
  };
}

/** The v3-DataOperation of a version: CREATE, UPDATE or DELETE. */
export function activity(version: StoredVersion): Coding {
  if (version.method === 'DELETE') return { system: DATA_OPERATION, code: 'DELETE' };
  if (version.versionId === 1) return { system: DATA_OPERATION, code: 'CREATE' };
  return { system: DATA_OPERATION, code: 'UPDATE' };
}

function callerAgent(principal: unknown): ProvenanceAgent {
  const type = { coding: [{ system: PARTICIPANT_TYPE, code: 'author' }] };
  if (!isPrincipal(principal)) return { type, who: { display: UNAUTHENTICATED_AGENT } };
  const client = { identifier: { system: principal.issuer, value: principal.clientId } };
  if (principal.fhirUser) {
    return { type, who: { reference: principal.fhirUser }, onBehalfOf: client };
  }
  return {
    type,
    who: {
      identifier: { system: principal.issuer, value: principal.subject },
      display: `client ${principal.clientId}`,
    },
  };
}

function purposeOfUse(principal: unknown): string[] {
  return isPrincipal(principal) ? principal.purposeOfUse : [];
}
