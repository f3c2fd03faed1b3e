import type { Provenance, Reference, Resource } from 'fhir/r4.js';
import type pg from 'pg';
import {
  type CompartmentPatients,
  compartmentPatients,
  isCompartmentType,
} from '../../auth/patient-compartment.js';
import { parseReference } from '../../fhir/search/references.js';
import type { ParamResolver } from '../../fhir/search/search-parameters.js';

/**
 * What the targets of Provenances are now, by `Type/id`, for one request: the current content
 * (a deleted resource's last content), or null when nothing by that name was ever stored.
 */
export type TargetContents = Map<string, Resource | null>;

/** A Provenance of a Provenance of ... is followed this deep; deeper counts as unidentified. */
const MAX_DEPTH = 4;
const SKIP = Symbol('not patient data');

/**
 * Loads, in one query per level, the targets of the Provenances among `resources` that
 * `known` does not hold yet (and the targets of targets that are Provenances themselves).
 * Reads go through the pool; a write's check passes its transaction, which sees the versions
 * it wrote.
 */
export async function loadProvenanceTargets(
  client: pg.Pool | pg.ClientBase,
  resources: Resource[],
  known: TargetContents,
): Promise<void> {
  let frontier = resources.filter(isProvenance);
  for (let depth = 0; depth < MAX_DEPTH && frontier.length > 0; depth++) {
    const wanted = new Set<string>();
    for (const provenance of frontier) {
      for (const target of provenance.target ?? []) {
        const key = targetKey(target);
        if (typeof key === 'string' && !known.has(key)) wanted.add(key);
      }
    }
    if (wanted.size === 0) return;
    const keys = [...wanted].map((k) => k.split('/') as [string, string]);
    const { rows } = await client.query<{ resource_type: string; id: string; content: Resource }>(
      `SELECT DISTINCT ON (v.resource_type, v.id) v.resource_type, v.id, v.content
         FROM resource_version v
        WHERE (v.resource_type, v.id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
          AND v.content IS NOT NULL
        ORDER BY v.resource_type, v.id, v.version_id DESC`,
      [keys.map((k) => k[0]), keys.map((k) => k[1])],
    );
    for (const key of wanted) known.set(key, null);
    const next: Provenance[] = [];
    for (const row of rows) {
      known.set(`${row.resource_type}/${row.id}`, row.content);
      if (isProvenance(row.content)) next.push(row.content);
    }
    frontier = next;
  }
}

/**
 * The patients a Provenance's data belongs to: those of its own compartment (targets that are
 * Patients) and those of each target's current compartment, since a Provenance tells that its
 * target exists and when it was written. A target that cannot be resolved (never stored, named
 * by identifier only, not a `Type/id` reference) may be anyone's data: unidentified. Targets of
 * types that are never patient data (Practitioner, Organization ...) add nobody. `contents`
 * must hold the targets (`loadProvenanceTargets`); a missing one counts as unresolved.
 */
export function provenancePatients(
  provenance: Provenance,
  own: CompartmentPatients | undefined,
  contents: TargetContents,
  params: ParamResolver,
  depth = 0,
): CompartmentPatients {
  const ids = new Set(own?.ids ?? []);
  let unidentified = own?.unidentified ?? false;
  for (const target of provenance.target ?? []) {
    const key = targetKey(target);
    if (key === SKIP) continue;
    const content = key === undefined ? undefined : contents.get(key);
    let found: CompartmentPatients | undefined;
    if (!content) found = { ids: [], unidentified: true };
    else if (isProvenance(content)) {
      found =
        depth + 1 < MAX_DEPTH
          ? provenancePatients(
              content,
              compartmentPatients(content, params),
              contents,
              params,
              depth + 1,
            )
          : { ids: [], unidentified: true };
    } else found = compartmentPatients(content, params);
    for (const id of found?.ids ?? []) ids.add(id);
    unidentified ||= found?.unidentified ?? false;
  }
  return { ids: [...ids], unidentified };
}

/** `Type/id` of a target to look up; SKIP when it is not patient data or already counted. */
function targetKey(target: Reference): string | typeof SKIP | undefined {
  const parsed = target.reference ? parseReference(target.reference) : undefined;
  if (!parsed) return undefined;
  // A Patient target is in the Provenance's own compartment (its `patient` parameter).
  if (parsed.type === 'Patient') return SKIP;
  if (parsed.type !== 'Provenance' && !isCompartmentType(parsed.type)) return SKIP;
  return `${parsed.type}/${parsed.id}`;
}

function isProvenance(resource: Resource): resource is Provenance {
  return resource.resourceType === 'Provenance';
}
