import type { Coding, Consent, ConsentProvision, OperationOutcomeIssue } from 'fhir/r4.js';
import type { Hex } from 'viem';
import { issue, unprocessable } from '../fhir/errors.js';
import {
  ALL_CLASSES,
  ALL_PURPOSES,
  ANY_ACTOR,
  actionMask,
  classMask,
  commitment,
  Effect,
  PURPOSES,
  RESOURCE_CLASSES,
} from '../ledger/consent-encoding.js';
import type { GrantTerms } from '../ledger/consent-typed-data.js';
import { GRANT_SIGNATURE_URL } from './lifecycle/grant-signature.js';

const SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
const ACTION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentaction';
const PURPOSE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const ROLE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const CLASS_SYSTEM = 'http://hl7.org/fhir/resource-types';

/** consentaction codes -> grant action (contracts/README.md). */
const ACTIONS: Record<string, 'read' | 'write'> = {
  access: 'read',
  use: 'read',
  disclose: 'read',
  collect: 'write',
  correct: 'write',
};
/** Actor roles that name who receives the data, the only reading a grant's actor has. */
const RECIPIENT_ROLES = new Set(['PRCP', 'IRCP']);
/** Provision elements the translation understands; any other is rejected by name. */
const PROVISION_ELEMENTS = new Set([
  'id',
  'type',
  'period',
  'actor',
  'action',
  'purpose',
  'class',
  'provision',
]);
const REFERENCE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;

export interface ConsentToGrantsParameters {
  /** The deployment's consent salt (32 bytes, secret; see src/consent/README.md). */
  salt: Hex;
  /** The Consent version the grants come from: "Consent/<id>/_history/<vid>". */
  consentVersion: string;
}

export interface GrantSpec {
  /** Deterministic per Consent version and position, so a retried write is idempotent. */
  grantId: Hex;
  terms: GrantTerms;
  /** The provision it comes from, e.g. "Consent.provision.provision[0]". */
  expression: string;
}

export interface ConsentToGrantsReturnType {
  patientKey: Hex;
  grants: GrantSpec[];
}

/**
 * Translates an R4 Consent (scope patient-privacy) into ConsentRegistry grants: one per
 * provision that has a `type`, times its actors (none = the wildcard actor). Nested
 * provisions inherit their parents' constraints (periods and masks intersect, a child's
 * actors replace the parent's). A root without `type` that holds nested provisions only
 * frames them: the server's base policy is always "no access without a permit", and
 * `policyRule` is not read, because the R4 examples show OPTIN beside withholding rules.
 * Anything else that would change the meaning (dataPeriod, securityLabel, code, data,
 * non-recipient actor roles, unknown codes, a permit nested in a deny, which deny-wins
 * grants cannot express) throws one 422 FhirError listing every construct by expression.
 *
 * @example
 * const { patientKey, grants } = consentToGrants(consent, { salt, consentVersion: 'Consent/1/_history/1' });
 */
export function consentToGrants(
  consent: Consent,
  params: ConsentToGrantsParameters,
): ConsentToGrantsReturnType {
  const problems: OperationOutcomeIssue[] = [];
  const reject = (expression: string, message: string) =>
    problems.push(issue('not-supported', `${expression}: ${message}`, expression));

  if (consent.modifierExtension?.length) reject('Consent.modifierExtension', 'not supported');
  (consent.extension ?? []).forEach((ext, i) => {
    // The patient's signatures do not change what is granted (lifecycle/grant-signature.ts).
    if (ext.url !== GRANT_SIGNATURE_URL) {
      reject(`Consent.extension[${i}]`, `not supported (only ${GRANT_SIGNATURE_URL})`);
    }
  });
  const scope = consent.scope?.coding ?? [];
  if (!scope.some((c) => c.system === SCOPE_SYSTEM && c.code === 'patient-privacy')) {
    reject('Consent.scope', `only ${SCOPE_SYSTEM}|patient-privacy is supported`);
  }
  const patient = consent.patient?.reference;
  if (!patient?.startsWith('Patient/') || !REFERENCE.test(patient)) {
    reject('Consent.patient', 'a relative reference Patient/<id> is required');
  }
  const drafts: { expression: string; effect: number; scope: Scope }[] = [];
  if (consent.provision) {
    walk(consent.provision, 'Consent.provision', EVERYTHING, false, true, drafts, reject);
  } else {
    reject('Consent.provision', 'required');
  }
  if (problems.length === 0 && drafts.length === 0) {
    reject('Consent.provision', 'no provision has a type: the Consent would grant nothing');
  }
  if (problems.length > 0) throw unprocessable(problems);

  const patientKey = commitment(params.salt, patient as string);
  const consentVersion = commitment(params.salt, params.consentVersion);
  const grants: GrantSpec[] = [];
  for (const draft of drafts) {
    const actors = draft.scope.actors ?? [undefined];
    for (const actor of actors) {
      grants.push({
        grantId: commitment(params.salt, `${params.consentVersion}#${grants.length}`),
        expression: draft.expression,
        terms: {
          patient: patientKey,
          actor: actor === undefined ? ANY_ACTOR : commitment(params.salt, actor),
          classes: draft.scope.classes,
          actions: draft.scope.actions,
          purposes: draft.scope.purposes,
          validFrom: draft.scope.validFrom,
          validUntil: draft.scope.validUntil,
          effect: draft.effect,
          consentVersion,
        },
      });
    }
  }
  return { patientKey, grants };
}

/** The key of a FHIR reference ("Practitioner/123") as grants hold it. */
export function referenceKey(salt: Hex, reference: string): Hex {
  return commitment(salt, reference);
}

interface Scope {
  /** undefined = every actor (the wildcard). */
  actors: string[] | undefined;
  classes: bigint;
  actions: number;
  purposes: number;
  validFrom: bigint;
  /** 0 = no end. */
  validUntil: bigint;
}

const EVERYTHING: Scope = {
  actors: undefined,
  classes: ALL_CLASSES,
  actions: 0b11,
  purposes: ALL_PURPOSES,
  validFrom: 0n,
  validUntil: 0n,
};

function walk(
  node: ConsentProvision,
  path: string,
  inherited: Scope,
  underDeny: boolean,
  root: boolean,
  out: { expression: string; effect: number; scope: Scope }[],
  reject: (expression: string, message: string) => void,
): void {
  for (const key of Object.keys(node)) {
    if (!PROVISION_ELEMENTS.has(key)) reject(`${path}.${key}`, 'not supported');
  }
  const scope = narrow(node, path, inherited, reject);
  const nested = node.provision ?? [];
  let effect: number | undefined;
  if (node.type === 'permit') effect = Effect.Permit;
  else if (node.type === 'deny') effect = Effect.Deny;
  else if (node.type !== undefined) reject(`${path}.type`, `unknown type ${node.type}`);
  else if (!root || nested.length === 0) {
    reject(`${path}.type`, 'required (policyRule is not interpreted)');
  }
  if (effect === Effect.Permit && underDeny) {
    reject(`${path}.type`, 'a permit nested in a deny cannot be expressed: deny grants always win');
  }
  if (effect !== undefined) out.push({ expression: path, effect, scope });
  nested.forEach((child, i) => {
    const deny = underDeny || effect === Effect.Deny;
    walk(child, `${path}.provision[${i}]`, scope, deny, false, out, reject);
  });
}

function narrow(
  node: ConsentProvision,
  path: string,
  parent: Scope,
  reject: (expression: string, message: string) => void,
): Scope {
  const scope = { ...parent };
  let unknownCode = false;
  if (node.actor?.length) {
    scope.actors = [];
    node.actor.forEach((actor, i) => {
      const at = `${path}.actor[${i}]`;
      const roles = (actor.role?.coding ?? []).filter((c) => c.system === ROLE_SYSTEM);
      if (!roles.some((c) => RECIPIENT_ROLES.has(c.code ?? ''))) {
        reject(`${at}.role`, `only recipient roles (${[...RECIPIENT_ROLES]}) are supported`);
      }
      const reference = actor.reference?.reference;
      if (!reference || !REFERENCE.test(reference)) {
        reject(`${at}.reference`, 'a relative literal reference <Type>/<id> is required');
      } else {
        scope.actors?.push(reference);
      }
    });
  }
  if (node.action?.length) {
    const names: string[] = [];
    node.action.forEach((action, i) => {
      const name = known(action.coding, ACTION_SYSTEM, (code) =>
        Object.hasOwn(ACTIONS, code) ? ACTIONS[code] : undefined,
      );
      if (name) names.push(name);
      else {
        unknownCode = true;
        reject(`${path}.action[${i}]`, `only ${ACTION_SYSTEM} ${Object.keys(ACTIONS)}`);
      }
    });
    scope.actions &= actionMask(names);
  }
  if (node.purpose?.length) {
    const codes: string[] = [];
    node.purpose.forEach((purpose, i) => {
      const code = known([purpose], PURPOSE_SYSTEM, (c) => PURPOSES.find((p) => p === c));
      if (code) codes.push(code);
      else {
        unknownCode = true;
        reject(`${path}.purpose[${i}]`, `only ${PURPOSE_SYSTEM} codes ${PURPOSES}`);
      }
    });
    scope.purposes = (scope.purposes & purposeMaskOf(codes)) >>> 0;
  }
  if (node.class?.length) {
    const types: string[] = [];
    node.class.forEach((c, i) => {
      const type = known([c], CLASS_SYSTEM, (code) => RESOURCE_CLASSES.find((t) => t === code));
      if (type) types.push(type);
      else {
        unknownCode = true;
        reject(`${path}.class[${i}]`, `only ${CLASS_SYSTEM} resource types are supported`);
      }
    });
    scope.classes &= classMask(types);
  }
  if (node.period) {
    const start = node.period.start ? instant(node.period.start, false) : 0n;
    const end = node.period.end ? instant(node.period.end, true) : 0n;
    if (start === undefined) reject(`${path}.period.start`, 'not a FHIR dateTime');
    if (end === undefined) reject(`${path}.period.end`, 'not a FHIR dateTime');
    else if (node.period.end && end <= 0n) reject(`${path}.period.end`, 'ends before 1970');
    // A start before 1970 is the same as no start.
    if (start !== undefined && start > scope.validFrom) scope.validFrom = start;
    if (end !== undefined && end > 0n && (scope.validUntil === 0n || end < scope.validUntil)) {
      scope.validUntil = end;
    }
  }
  if (scope.validUntil !== 0n && scope.validUntil <= scope.validFrom) {
    reject(`${path}.period`, 'ends before it starts (or outside its parent period)');
  }
  if (!unknownCode && (scope.classes === 0n || scope.actions === 0 || scope.purposes === 0)) {
    reject(path, 'its class, action or purpose leaves nothing of its parent');
  }
  return scope;
}

function known<T>(
  codings: Coding[] | undefined,
  system: string,
  lookup: (code: string) => T | undefined,
): T | undefined {
  for (const c of codings ?? []) {
    if (c.system !== system || !c.code) continue;
    const value = lookup(c.code);
    if (value !== undefined) return value;
  }
  return undefined;
}

function purposeMaskOf(codes: string[]): number {
  let mask = 0;
  for (const code of codes) mask |= 1 << PURPOSES.indexOf(code as (typeof PURPOSES)[number]);
  return mask >>> 0;
}

/**
 * Unix seconds of a FHIR date/dateTime: its first second, or for an end (`end = true`) the
 * first second after it at its precision (a Period's end is inclusive: "2016-01-01" lasts the
 * whole day, UTC when no zone is given). Negative before 1970.
 */
function instant(value: string, end: boolean): bigint | undefined {
  const date = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(value);
  let ms: number;
  if (date) {
    const [y, m, d] = [Number(date[1]), date[2] ? Number(date[2]) - 1 : 0, Number(date[3] ?? 1)];
    if (!end) ms = Date.UTC(y, m, d);
    else if (date[3]) ms = Date.UTC(y, m, d + 1);
    else if (date[2]) ms = Date.UTC(y, m + 1, 1);
    else ms = Date.UTC(y + 1, 0, 1);
  } else {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
      return undefined;
    }
    const parsed = Date.parse(value);
    if (Number.isNaN(parsed)) return undefined;
    ms = end ? Math.floor(parsed / 1000) * 1000 + 1000 : parsed;
  }
  return BigInt(Math.floor(ms / 1000));
}
