import type { Provenance, Resource } from 'fhir/r4.js';
import type { Hex } from 'viem';
import type { AuthRegistry } from '../../auth/client-registry.js';
import { type CompartmentPatients, compartmentPatients } from '../../auth/patient-compartment.js';
import { isPrincipal, type Principal } from '../../auth/principal.js';
import { FhirError, issue, notFound } from '../../fhir/errors.js';
import type { InteractionName, MaybePromise, Operation, RequestContext } from '../../fhir/hooks.js';
import { patientCompartmentParams } from '../../fhir/search/patient-compartment-definition.js';
import type { Tx } from '../../fhir/storage/database.js';
import {
  accessRecord,
  decisionRecordKey,
  recordDecision,
  UNIDENTIFIED_PATIENT,
} from '../access-record.js';
import { referenceKey } from '../consent-to-grant.js';
import type { ConsentContext } from '../start-consent.js';
import { type ConsentCaller, consentCaller } from './consent-caller.js';
import { ConsentUnavailableError, decideAccess } from './decide-access.js';
import {
  loadProvenanceTargets,
  provenancePatients,
  type TargetContents,
} from './provenance-targets.js';
import {
  type Decided,
  enforcementOf,
  type Remembered,
  type RequestEnforcement,
  setEnforcement,
  versionKey,
} from './request-enforcement.js';
import { writtenContents } from './write-check.js';

/** Interactions that return stored patient data. */
const READS = new Set<InteractionName>([
  'read',
  'vread',
  'history-instance',
  'history-type',
  'history-system',
  'search-type',
  'search-system',
  'verify',
  'everything',
  // A patch reads the current version (its test ops, the representation it returns).
  'patch',
]);
const READ = 0;
const WRITE = 1;
/** The classes Patient/[id]/$everything returns: the Patient and its compartment's types. */
const EVERYTHING_TYPES = ['Patient', ...patientCompartmentParams.keys()];

/**
 * Consent on every read path (see README.md in this folder):
 *  - beforeOperation: works out who the caller is for consent once per request, and fails
 *    closed (503) for callers who can only be permitted by grants when the mirror is stale;
 *  - filterCandidate: per candidate (read, vread, search before paging and totals, includes,
 *    history, $verify, batch entries) a decision per patient compartment; all must permit;
 *  - beforeCommit: writes into a patient's compartment need the write action (403 otherwise);
 *  - beforeReturn: the versions returned, and the policy decisions of custodians and
 *    break-the-glass callers, whose candidates are not filtered (their totals stay exact SQL).
 * Every decision is recorded in the request's access record for the audit.
 */
export function registerEnforcement(context: ConsentContext): void {
  const { services, mirror, config, salt, registry } = context;
  const { hooks, params } = services;
  // Salted keys of patients and callers' identities, computed once per reference (a keccak
  // per request was ~1.5% of a read's CPU). Bounded: a keccak is cheap to redo, memory is not free.
  const referenceKeys = new Map<string, Hex>();
  const keyOf = (reference: string) => {
    let key = referenceKeys.get(reference);
    if (!key) {
      key = referenceKey(salt, reference);
      if (referenceKeys.size >= 100_000) referenceKeys.clear();
      referenceKeys.set(reference, key);
    }
    return key;
  };
  const patientKey = (patient: string) => keyOf(`Patient/${patient}`);
  // The registry as checked within the last 250 ms, read afresh when it does not know the
  // client yet (one registered a moment ago): a changed client (custodian list, fhirUser) takes
  // effect within 250 ms, a new one at once.
  const knows = (snapshot: AuthRegistry, clientId: string) =>
    snapshot.clients.some((c) => c.clientId === clientId);
  const currentRegistry = async (clientId: string) => {
    const recent = await registry.current(250);
    return knows(recent, clientId) ? recent : registry.current();
  };
  const fresh = () => mirror.staleness() <= config.maxStalenessBlocks;
  // Behind by a few blocks is normal for an instant (the follow loop sees the head first, then
  // applies its logs): wait for the mirror to catch up before refusing. A request decides on the
  // state it found current, so a new block during a long search does not refuse it half-way.
  const catchUpMs = Math.min(config.maxHeadAgeMs, 2000);
  const ensureCurrent = (state: RequestEnforcement): MaybePromise<boolean> => {
    if (state.current) return true;
    if (fresh()) {
      state.current = true;
      return true;
    }
    return mirror.catchUp(config.maxStalenessBlocks, catchUpMs).then((current) => {
      state.current = current;
      return current;
    });
  };
  // A committed version never changes, so its compartments are computed (FHIRPath) once. Only
  // reads use the cache: a version being written may still roll back and its number be reused.
  const compartments = new Map<string, CompartmentPatients | undefined>();
  // The patients as references (`Patient/<id>`), for the access record: once per cached version.
  const references = new WeakMap<CompartmentPatients, string[]>();
  const referencesOf = (patients: CompartmentPatients) => {
    let refs = references.get(patients);
    if (!refs) {
      refs = patientReferences(patients);
      references.set(patients, refs);
    }
    return refs;
  };
  // A read's hooks (filter, decision, return) each need the version's key: built once.
  let keyed: { resource: Resource; id?: string; vid?: string; key: string } | undefined;
  const keyOfVersion = (resource: Resource) => {
    const vid = resource.meta?.versionId;
    if (keyed?.resource !== resource || keyed.id !== resource.id || keyed.vid !== vid) {
      keyed = { resource, id: resource.id, vid, key: versionKey(resource) };
    }
    return keyed.key;
  };
  const compartmentsOf = (resource: Resource) => {
    if (!resource.meta?.versionId) return compartmentPatients(resource, params);
    const key = keyOfVersion(resource);
    if (compartments.has(key)) return compartments.get(key);
    const found = compartmentPatients(resource, params);
    if (compartments.size >= 50_000) compartments.delete(compartments.keys().next().value!);
    compartments.set(key, found);
    return found;
  };

  // A Provenance is the data of the patients of its targets too: their compartments are looked
  // up (per request: a target's current content can change) in one query per batch of
  // candidates (`prepare`), or per resource on single reads.
  const withTargetPatients = async (
    client: Tx | typeof services.db.pool,
    resource: Resource,
    own: CompartmentPatients | undefined,
    targets: TargetContents,
  ) => {
    if (resource.resourceType !== 'Provenance') return own;
    await loadProvenanceTargets(client, [resource], targets);
    return provenancePatients(resource as Provenance, own, targets, params);
  };
  // Only a Provenance needs storage (its targets): anything else is decided without a round trip.
  const readPatients = (state: RequestEnforcement, resource: Resource) =>
    resource.resourceType === 'Provenance'
      ? withTargetPatients(services.db.pool, resource, compartmentsOf(resource), targetsOf(state))
      : compartmentsOf(resource);
  // A Provenance a client writes is a write into its targets' patients' records: judged in the
  // transaction (it sees targets written with it), without the read cache (it may roll back).
  const writtenPatients = (tx: Tx, resource: Resource) =>
    withTargetPatients(tx, resource, compartmentPatients(resource, params), new Map());

  // The consent view of recent callers, by the Principal fields it depends on: rebuilt when the
  // auth registry changes (a new snapshot object), else reused. Each keeps its own remembered
  // decisions, so a rebuilt caller starts afresh.
  interface KnownCaller {
    registry: AuthRegistry;
    /** Whether `registry` lists the client (else each request looks for it afresh). */
    registered: boolean;
    caller: ConsentCaller;
    /** Its decisions of recent requests (see `remembered`). */
    remembered: Map<string, Remembered>;
  }
  const callers = new Map<string, KnownCaller>();
  const callerId = (p: Principal) =>
    [...CALLER_FIELDS.map((f) => p[f] ?? ''), p.purposeOfUse.join(' ')].join('\u0001');
  // Requests mostly come from the caller before: compared field by field, without a key to build.
  let last: { principal: Principal; entry: KnownCaller } | undefined;
  const callerOf = (principal: Principal): MaybePromise<KnownCaller> => {
    const recent = registry.recent(250);
    const before = last?.entry;
    if (
      before?.registered &&
      before.registry === recent &&
      samePrincipal(last!.principal, principal)
    )
      return before;
    const id = callerId(principal);
    const known = callers.get(id);
    if (known?.registered && known.registry === recent) {
      last = { principal, entry: known };
      return known;
    }
    return currentRegistry(principal.clientId).then((snapshot) => {
      let entry = callers.get(id);
      if (entry?.registry !== snapshot) {
        const caller = consentCaller(principal, {
          keyOf,
          custodianClients: config.custodianClients,
          registry: snapshot,
        });
        const registered = knows(snapshot, principal.clientId);
        entry = { registry: snapshot, registered, caller, remembered: new Map() };
        if (callers.size >= 10_000) callers.clear();
        callers.set(id, entry);
      }
      last = { principal, entry };
      return entry;
    });
  };

  const begin = (ctx: RequestContext, { caller, remembered }: KnownCaller): RequestEnforcement => {
    const state: RequestEnforcement = {
      caller,
      remembered,
      time: nowSeconds(),
      decisions: new Map(),
      recorded: new Set(),
    };
    setEnforcement(ctx, state);
    return state;
  };
  const enforcement = (ctx: RequestContext): MaybePromise<RequestEnforcement> => {
    const state = enforcementOf(ctx);
    if (state) return state;
    if (!isPrincipal(ctx.principal))
      throw new FhirError(401, [issue('login', 'Authentication required')]);
    const known = callerOf(ctx.principal);
    if (!(known instanceof Promise)) return begin(ctx, known);
    return known.then((entry) => enforcementOf(ctx) ?? begin(ctx, entry));
  };

  // Decisions of recent requests, reused by the same caller's next requests while nothing they
  // depend on changed: the same mirrored block and grants (`version`), the same second. A
  // revocation changes both, so no remembered decision outlives it; one that consulted the
  // chain is reused only while the mirror is current (else 503, as deciding anew would). Kept
  // per caller (`KnownCaller.remembered`), at most `MAX_REMEMBERED` in all.
  let rememberedCount = 0;
  const decide = (
    state: RequestEnforcement,
    key: string,
    patient: string,
    resourceType: string,
    action: number,
  ): Decided => {
    const block = mirror.seenBlock;
    const version = mirror.version;
    const current = () => state.current === true || fresh();
    const known = state.remembered.get(key);
    if (known && known.block === block && known.version === version && known.time === state.time) {
      if (known.chain && !current())
        throw new ConsentUnavailableError('consent state is not current');
      return known.decided;
    }
    let chain = false;
    const decision = decideAccess(
      state.caller,
      mirror,
      () => {
        chain = true;
        return current();
      },
      { patient, resourceType, action, time: state.time, block },
      patientKey,
    );
    if (rememberedCount >= MAX_REMEMBERED) {
      for (const entry of callers.values()) entry.remembered.clear();
      state.remembered.clear();
      rememberedCount = 0;
    }
    if (!known) rememberedCount++;
    const decided = { decision, recordKey: decisionRecordKey(decision) };
    state.remembered.set(key, { decided, chain, block, version, time: state.time });
    return decided;
  };

  /** The decision for one patient, type and action: made once per request (503 when stale). */
  const decisionFor = (
    state: RequestEnforcement,
    ctx: RequestContext,
    patient: string,
    resourceType: string,
    action: number,
  ): Decided => {
    const key = `${patient}|${resourceType}|${action}`;
    let decided = state.decisions.get(key);
    if (!decided) {
      try {
        decided = decide(state, key, patient, resourceType, action);
      } catch (err) {
        if (!(err instanceof ConsentUnavailableError)) throw err;
        recordDecision(ctx, {
          patient: `Patient/${patient}`,
          resourceType,
          permitted: false,
          basis: 'unavailable',
          grants: [],
          block: mirror.seenBlock,
        });
        throw unavailable();
      }
      state.decisions.set(key, decided);
    }
    return decided;
  };

  /** Decides for every patient the resource belongs to and records once per version. */
  const decideFor = (
    state: RequestEnforcement,
    ctx: RequestContext,
    resource: Resource,
    patients: CompartmentPatients | undefined,
    action = READ,
  ) => {
    if (!patients) return true;
    const key = keyOfVersion(resource);
    const recorded = action === READ ? state.recorded : recordedWrites(state);
    const first = !recorded.has(key);
    recorded.add(key);
    if (first) accessRecord(ctx).patientsOf.set(key, referencesOf(patients));
    let permitted = true;
    if (patients.unidentified && !state.caller.custodian && !state.caller.breakTheGlass) {
      permitted = false;
      if (first) {
        recordDecision(ctx, {
          patient: UNIDENTIFIED_PATIENT,
          resourceType: resource.resourceType,
          permitted: false,
          basis: 'no-grant',
          grants: [],
          block: mirror.seenBlock,
        });
      }
    }
    for (const patient of patients.ids) {
      const { decision, recordKey } = decisionFor(
        state,
        ctx,
        patient,
        resource.resourceType,
        action,
      );
      if (first) recordDecision(ctx, decision, recordKey);
      permitted &&= decision.permitted;
    }
    return permitted;
  };

  /**
   * Patient/[id]/$everything by a caller with no access to any of the patient's data is a 404
   * before anything is loaded, as a denied read, with its deny recorded; a grant for some
   * classes lets it run, and each resource is then filtered like any candidate.
   */
  const everythingAllowed = (state: RequestEnforcement, ctx: RequestContext, patient: string) => {
    const { caller } = state;
    if (caller.ownPatients.has(patient) || caller.custodian || caller.breakTheGlass) return;
    for (const type of EVERYTHING_TYPES) {
      if (decisionFor(state, ctx, patient, type, READ).decision.permitted) return;
    }
    const { decision, recordKey } = decisionFor(state, ctx, patient, 'Patient', READ);
    recordDecision(ctx, decision, recordKey);
    throw notFound(`Patient/${patient} not found`);
  };

  // The hooks below answer at once when they can (a known caller, a current mirror, a resource
  // decided without storage) and return a promise only when they must wait.

  /** A read goes ahead when the consent state is current (or the caller needs no grant). */
  const admit = (state: RequestEnforcement, op: Operation, ctx: RequestContext, ok: boolean) => {
    if (!ok) {
      recordDecision(ctx, {
        patient: UNIDENTIFIED_PATIENT,
        resourceType: op.resourceType ?? '*',
        permitted: false,
        basis: 'unavailable',
        grants: [],
        block: mirror.seenBlock,
      });
      throw unavailable();
    }
    if (op.interaction === 'everything' && op.id) everythingAllowed(state, ctx, op.id);
  };
  const checkRead = (state: RequestEnforcement, op: Operation, ctx: RequestContext) => {
    const { caller } = state;
    const byPolicy = caller.custodian || caller.breakTheGlass || caller.ownPatients.size > 0;
    const ok = byPolicy || ensureCurrent(state);
    if (ok instanceof Promise) return ok.then((current) => admit(state, op, ctx, current));
    admit(state, op, ctx, ok);
  };
  hooks.beforeOperation.push((op, ctx) => {
    if (op.interaction === 'capabilities') return;
    accessRecord(ctx).operations.push(op);
    if (!READS.has(op.interaction)) return;
    const state = enforcement(ctx);
    if (state instanceof Promise) return state.then((known) => checkRead(known, op, ctx));
    return checkRead(state, op, ctx);
  });

  const filter = (resource: Resource, ctx: RequestContext): MaybePromise<boolean> => {
    const state = enforcementOf(ctx);
    if (state && resource.resourceType !== 'Provenance') {
      return decideFor(state, ctx, resource, compartmentsOf(resource));
    }
    return filterWithStorage(resource, ctx);
  };
  const filterWithStorage = async (resource: Resource, ctx: RequestContext) => {
    const state = enforcementOf(ctx) ?? (await enforcement(ctx));
    return decideFor(state, ctx, resource, await readPatients(state, resource));
  };
  filter.prepare = async (resources: Resource[], ctx: RequestContext) => {
    const state = await enforcement(ctx);
    await loadProvenanceTargets(services.db.pool, resources, targetsOf(state));
  };
  // Callers permitted by policy keep everything: the core then counts in SQL and skips the
  // per-row call; their decisions are recorded per returned resource below.
  filter.appliesTo = (ctx: RequestContext) => {
    const caller = enforcementOf(ctx)?.caller;
    return !caller || !(caller.custodian || caller.breakTheGlass);
  };
  hooks.filterCandidate.push(filter);

  // Writes into a patient's compartment need the grant's write action too (custodians and
  // patients writing their own record by policy); throwing rolls the transaction back.
  hooks.beforeCommit.push(async (tx, versions, ctx) => {
    const state = await enforcement(ctx);
    const { custodian, breakTheGlass } = state.caller;
    // Policy callers are permitted whatever they replace: only the new versions are recorded.
    const previous = !(custodian || breakTheGlass);
    if (previous) await ensureCurrent(state);
    for (const content of await writtenContents(tx, versions, previous)) {
      // Who may write a Consent is the lifecycle's rule (patient, delegate, custodian; never the
      // grantee), checked there: a delegate holds no grant to write into the patient's record.
      if (content.resourceType === 'Consent') continue;
      if (!decideFor(state, ctx, content, await writtenPatients(tx, content), WRITE))
        throw refused();
    }
  });

  const returned = (
    state: RequestEnforcement,
    resource: Resource,
    ctx: RequestContext,
  ): MaybePromise<Resource> => {
    const record = accessRecord(ctx);
    const key = keyOfVersion(resource);
    record.returned.push(key);
    if (state.caller.custodian || state.caller.breakTheGlass) {
      const patients = readPatients(state, resource);
      if (patients instanceof Promise) {
        return patients.then((found) => {
          decideFor(state, ctx, resource, found);
          return resource;
        });
      }
      decideFor(state, ctx, resource, patients);
    } else if (!record.patientsOf.has(key)) {
      // Not decided on (a Consent a patient or delegate wrote: the lifecycle authorises those
      // writes): the audit files it under its own compartment's patients.
      const patients = compartmentsOf(resource);
      if (patients) record.patientsOf.set(key, referencesOf(patients));
    }
    return resource;
  };
  hooks.beforeReturn.push((resource, ctx) => {
    const state = enforcement(ctx);
    if (state instanceof Promise) return state.then((known) => returned(known, resource, ctx));
    return returned(state, resource, ctx);
  });
}

/** The targets of the Provenances the request has seen (created when it first sees one). */
function targetsOf(state: RequestEnforcement): TargetContents {
  state.targets ??= new Map();
  return state.targets;
}

/** The versions recorded for the write action (created by the request's first write). */
function recordedWrites(state: RequestEnforcement): Set<string> {
  state.recordedWrites ??= new Set();
  return state.recordedWrites;
}

let second = Number.NaN;
let secondBig = 0n;
/** Unix seconds as a bigint (the grants' time unit), made once per second. */
function nowSeconds(): bigint {
  const now = Math.floor(Date.now() / 1000);
  if (now !== second) {
    second = now;
    secondBig = BigInt(now);
  }
  return secondBig;
}

/** Remembered decisions in all, across callers: past this many, all are forgotten at once. */
const MAX_REMEMBERED = 100_000;

/** The Principal fields `consentCaller` reads, with `purposeOfUse`: one caller for consent. */
const CALLER_FIELDS = [
  'issuer',
  'clientId',
  'subject',
  'fhirUser',
  'patient',
  'scopeText',
] as const;

/** Whether two principals are the same caller for consent. */
function samePrincipal(a: Principal, b: Principal): boolean {
  if (a === b) return true;
  const purposes = a.purposeOfUse;
  return (
    CALLER_FIELDS.every((f) => a[f] === b[f]) &&
    purposes.length === b.purposeOfUse.length &&
    purposes.every((purpose, i) => purpose === b.purposeOfUse[i])
  );
}

/** The patients a resource belongs to, as references (those named only by identifier: none). */
function patientReferences(patients: CompartmentPatients): string[] {
  return patients.ids.map((id) => `Patient/${id}`);
}

function refused(): FhirError {
  return new FhirError(403, [
    issue(
      'forbidden',
      "Consent on the chain does not permit this caller to write into the patient's record",
    ),
  ]);
}

function unavailable(): FhirError {
  return new FhirError(503, [
    issue(
      'transient',
      'Consent cannot be confirmed from the chain right now (consent mirror behind or chain unreachable); patient data is not served. Retry later.',
    ),
  ]);
}
