import type { Provenance, Resource } from 'fhir/r4.js';
import type { Definitions } from '../fhir/definitions.js';
import { badRequest, FhirError } from '../fhir/errors.js';
import type { FhirHooks, RequestContext, StoredVersion } from '../fhir/hooks.js';
import type { Tx } from '../fhir/storage/database.js';
import { validateResource } from '../fhir/validation/validate-resource.js';
import { contentHash, leafHash, tombstone, versionRef } from './content-hash.js';
import { activity, provenanceFor } from './provenance-resource.js';

const anchoredOnly = new WeakSet<RequestContext>();

/**
 * Marks the context of a write the server makes on its own behalf whose versions are anchored
 * but get no Provenance: the AuditEvents of src/consent/audit. An AuditEvent is itself the record
 * of who did what (its observer is this server), and a Provenance per audit would double the
 * rows written for every read.
 */
export function anchorWithoutProvenance(ctx: RequestContext): RequestContext {
  anchoredOnly.add(ctx);
  return ctx;
}

/**
 * Registers the listener that, inside every write transaction, stores a Provenance for the
 * versions the request wrote (one per activity, its `target` listing each of them) and an
 * anchor outbox row for every version (Provenance included).
 * Register it last, so that it also sees versions other listeners write.
 */
export function registerProvenance(hooks: FhirHooks, definitions: Definitions): void {
  hooks.beforeCommit.push(async (tx, versions, ctx, create) => {
    if (anchoredOnly.has(ctx)) return insertOutboxRows(tx, versions);
    const fromClient = ctx.xProvenance ? parseXProvenance(ctx.xProvenance, definitions) : undefined;
    // One Provenance per activity of the request, listing every version it wrote (a
    // transaction Bundle of 500 creates gets one, not 500). Grouped from a snapshot: the
    // Provenances written here join `versions` (and are anchored) but get none of their own.
    const byActivity = new Map<string, StoredVersion[]>();
    for (const version of versions) {
      const code = activity(version).code!;
      const group = byActivity.get(code);
      if (group) group.push(version);
      else byActivity.set(code, [version]);
    }
    for (const group of byActivity.values()) {
      await create(provenanceFor(group, ctx.principal, fromClient));
    }
    await insertOutboxRows(tx, versions);
  });
}

/** The document a version's contentHash is computed over (design.md: as vread returns it). */
export function hashedDocument(version: StoredVersion): Resource | ReturnType<typeof tombstone> {
  return version.resource ?? tombstone(version, version.lastUpdated);
}

async function insertOutboxRows(tx: Tx, versions: StoredVersion[]): Promise<void> {
  const types: string[] = [];
  const ids: string[] = [];
  const versionIds: number[] = [];
  const hashes: Buffer[] = [];
  const leaves: Buffer[] = [];
  for (const version of versions) {
    const hash = contentHash(hashedDocument(version));
    types.push(version.resourceType);
    ids.push(version.id);
    versionIds.push(version.versionId);
    hashes.push(Buffer.from(hash));
    leaves.push(Buffer.from(leafHash(versionRef(version), hash)));
  }
  await tx.query({
    name: 'insert-anchor-outbox',
    text: `INSERT INTO anchor_outbox (resource_type, id, version_id, content_hash, leaf)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bytea[], $5::bytea[])`,
    values: [types, ids, versionIds, hashes, leaves],
  });
}

function parseXProvenance(header: string, definitions: Definitions): Provenance {
  let parsed: unknown;
  try {
    parsed = JSON.parse(header);
  } catch {
    throw badRequest('X-Provenance must be a JSON Provenance resource');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badRequest('X-Provenance must be a JSON Provenance resource');
  }
  const given = parsed as Provenance;
  if (given.resourceType !== 'Provenance') {
    throw badRequest('X-Provenance must have resourceType Provenance');
  }
  if (given.target !== undefined) {
    throw badRequest('X-Provenance must not have a target; the server sets it');
  }
  // Target and recorded are filled by the server; validate the rest as it will be stored.
  const candidate: Provenance = {
    ...given,
    target: [{ reference: 'Basic/x' }],
    recorded: '2000-01-01T00:00:00Z',
    agent: given.agent ?? [{ who: { display: 'server' } }],
  };
  const result = validateResource(candidate, definitions);
  if (!result.ok) {
    throw new FhirError(
      400,
      result.issues.map((i) => ({ ...i, diagnostics: `X-Provenance: ${i.diagnostics ?? ''}` })),
    );
  }
  return given;
}
