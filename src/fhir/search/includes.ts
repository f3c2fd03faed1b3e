import type { Resource } from 'fhir/r4.js';
import type pg from 'pg';
import { withLeadingKeys } from '../storage/resource-store.js';
import type { IncludeSpec } from './parse-query.js';

/** Included resources are capped so that one search cannot pull the database. */
const MAX_INCLUDED = 1000;
const MAX_ITERATIONS = 4;

/**
 * Resources referenced by (_include) or referencing (_revinclude) the matches,
 * and with :iterate those of the resources included so far. `present` hides what
 * the caller may not see (consent) and masks the rest; `prepare` first sees each round's
 * found resources at once.
 */
export async function loadIncludes(
  client: pg.Pool | pg.ClientBase,
  matches: Resource[],
  include: IncludeSpec[],
  revinclude: IncludeSpec[],
  present: (resource: Resource) => Promise<Resource | undefined>,
  prepare?: (resources: Resource[]) => Promise<void>,
): Promise<Resource[]> {
  const seen = new Set(matches.map(key));
  const included: Resource[] = [];
  let frontier = matches;
  for (let round = 0; round < MAX_ITERATIONS && frontier.length > 0; round++) {
    const specsInclude = round === 0 ? include : include.filter((s) => s.iterate);
    const specsRev = round === 0 ? revinclude : revinclude.filter((s) => s.iterate);
    if (specsInclude.length === 0 && specsRev.length === 0) break;
    const found: Resource[] = [];
    for (const spec of specsInclude) found.push(...(await forward(client, frontier, spec)));
    for (const spec of specsRev) found.push(...(await reverse(client, frontier, spec)));
    const next: Resource[] = [];
    if (prepare && found.length > 0) await prepare(found);
    for (const resource of found) {
      if (seen.has(key(resource)) || included.length >= MAX_INCLUDED) continue;
      seen.add(key(resource));
      const shown = await present(resource);
      if (!shown) continue;
      included.push(shown);
      next.push(resource);
    }
    frontier = next;
  }
  return included;
}

const key = (r: Resource) => `${r.resourceType}/${r.id}`;

async function forward(
  client: pg.Pool | pg.ClientBase,
  from: Resource[],
  spec: IncludeSpec,
): Promise<Resource[]> {
  const sources = from.filter((r) => spec.sourceType === '*' || r.resourceType === spec.sourceType);
  if (sources.length === 0) return [];
  const { rows } = await client.query<{ content: Resource }>(
    `SELECT t.content FROM resource_current t
      WHERE NOT t.deleted AND (t.resource_type, t.id) IN (
        SELECT x.target_type, x.target_id FROM reference_index x
         WHERE (x.resource_type, x.id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
           AND ($3::text IS NULL OR x.param = $3) AND ($4::text IS NULL OR x.target_type = $4)
           AND x.target_id IS NOT NULL)`,
    [
      sources.map((r) => r.resourceType),
      sources.map((r) => r.id),
      spec.param ?? null,
      spec.targetType ?? null,
    ],
  );
  return rows.map((r) => withLeadingKeys(r.content));
}

async function reverse(
  client: pg.Pool | pg.ClientBase,
  to: Resource[],
  spec: IncludeSpec,
): Promise<Resource[]> {
  const targets = spec.targetType ? to.filter((r) => r.resourceType === spec.targetType) : to;
  if (targets.length === 0) return [];
  const { rows } = await client.query<{ content: Resource }>(
    `SELECT s.content FROM resource_current s
      WHERE NOT s.deleted AND (s.resource_type, s.id) IN (
        SELECT x.resource_type, x.id FROM reference_index x
         WHERE (x.target_type, x.target_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
           AND ($3::text = '*' OR x.resource_type = $3) AND ($4::text IS NULL OR x.param = $4))`,
    [
      targets.map((r) => r.resourceType),
      targets.map((r) => r.id),
      spec.sourceType,
      spec.param ?? null,
    ],
  );
  return rows.map((r) => withLeadingKeys(r.content));
}
