import type { Provenance, Resource } from 'fhir/r4.js';
import type { StoredVersion } from '../../fhir/hooks.js';
import type { Tx } from '../../fhir/storage/database.js';

/**
 * The contents a write touches, for consent's write action: each new version and the version
 * it replaces (moving an Observation out of a patient's record is a write into that record).
 * The Provenance the server records for the versions of this very transaction is skipped:
 * it is the server's own record of the write, which consent already judged; a Provenance
 * the client writes itself is checked like any resource.
 */
export async function writtenContents(
  tx: Tx,
  versions: StoredVersion[],
  withPrevious: boolean,
): Promise<Resource[]> {
  const written = new Set(versions.map((v) => `${v.resourceType}/${v.id}/_history/${v.versionId}`));
  const contents: Resource[] = [];
  for (const v of versions) {
    if (v.resource && isServerProvenance(v.resource, written)) continue;
    if (v.resource) contents.push(v.resource);
    if (withPrevious && v.versionId > 1) {
      const { rows } = await tx.query<{ content: Resource | null }>(
        `SELECT content FROM resource_version
          WHERE resource_type = $1 AND id = $2 AND version_id < $3 AND content IS NOT NULL
          ORDER BY version_id DESC LIMIT 1`,
        [v.resourceType, v.id, v.versionId],
      );
      if (rows[0]?.content) contents.push(rows[0].content);
    }
  }
  return contents;
}

function isServerProvenance(resource: Resource, written: Set<string>): boolean {
  if (resource.resourceType !== 'Provenance') return false;
  const targets = (resource as Provenance).target ?? [];
  return targets.length > 0 && targets.every((t) => t.reference && written.has(t.reference));
}
