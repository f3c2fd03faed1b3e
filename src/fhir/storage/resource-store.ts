import type { Resource } from 'fhir/r4.js';
import { preconditionFailed } from '../errors.js';
import type { FhirHooks, RequestContext, StoredVersion } from '../hooks.js';
import type { Database, Tx } from './database.js';
import type { TokenIndexer } from './token-index.js';

export interface VersionRow {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  method: StoredVersion['method'];
  /** undefined for a deletion tombstone */
  resource: Resource | undefined;
}

export interface WriteRequest {
  resourceType: string;
  id: string;
  method: StoredVersion['method'];
  /** The new content, or undefined to delete. */
  resource: Resource | undefined;
  /** Required current version (from If-Match); a mismatch is 412. */
  ifMatch?: number;
}

/** Writes made inside one database transaction; see ResourceStore.transaction. */
export interface Writer {
  tx: Tx;
  /** Current version of a resource, locked against concurrent writers until commit. */
  lockCurrent(resourceType: string, id: string): Promise<VersionRow | undefined>;
  /** Writes the next version; `created` is true when no live version existed before. */
  write(request: WriteRequest): Promise<{ version: StoredVersion; created: boolean }>;
}

export interface ResourceStore {
  /**
   * Runs `work` in one database transaction; the beforeCommit hooks see every
   * version it wrote, inside the transaction, and afterCommit hooks run after it.
   */
  transaction<T>(ctx: RequestContext, work: (writer: Writer) => Promise<T>): Promise<T>;
  current(resourceType: string, id: string): Promise<VersionRow | undefined>;
  version(resourceType: string, id: string, versionId: number): Promise<VersionRow | undefined>;
}

interface Row {
  resource_type: string;
  id: string;
  version_id: number;
  last_updated: string;
  method?: StoredVersion['method'];
  deleted?: boolean;
  content: Resource | null;
}

export function toVersionRow(row: Row): VersionRow {
  return {
    resourceType: row.resource_type,
    id: row.id,
    versionId: row.version_id,
    lastUpdated: new Date(row.last_updated).toISOString(),
    method: row.method ?? (row.deleted ? 'DELETE' : 'PUT'),
    resource: row.content ? withLeadingKeys(row.content) : undefined,
  };
}

/** JSONB sorts keys by length; clients expect resourceType, id and meta first. */
function withLeadingKeys(content: Resource): Resource {
  const { resourceType, id, meta, ...rest } = content;
  return { resourceType, id, meta, ...rest } as Resource;
}

export function createResourceStore(
  db: Database,
  hooks: FhirHooks,
  tokens: TokenIndexer,
  onAfterCommitError: (err: unknown) => void,
): ResourceStore {
  return {
    async transaction(ctx, work) {
      const written: StoredVersion[] = [];
      const result = await db.transaction(async (tx) => {
        const out = await work(createWriter(tx, tokens, written));
        if (written.length > 0) {
          for (const listener of hooks.beforeCommit) await listener(tx, written, ctx);
        }
        return out;
      });
      if (written.length > 0) {
        for (const listener of hooks.afterCommit) {
          await listener(written, ctx).catch(onAfterCommitError);
        }
      }
      return result;
    },

    async current(resourceType, id) {
      const { rows } = await db.pool.query<Row>(
        `SELECT resource_type, id, version_id, last_updated, deleted, content
           FROM resource_current WHERE resource_type = $1 AND id = $2`,
        [resourceType, id],
      );
      return rows[0] && toVersionRow(rows[0]);
    },

    async version(resourceType, id, versionId) {
      const { rows } = await db.pool.query<Row>(
        `SELECT resource_type, id, version_id, last_updated, method, content
           FROM resource_version WHERE resource_type = $1 AND id = $2 AND version_id = $3`,
        [resourceType, id, versionId],
      );
      return rows[0] && toVersionRow(rows[0]);
    },
  };
}

function createWriter(tx: Tx, tokens: TokenIndexer, written: StoredVersion[]): Writer {
  const lockCurrent: Writer['lockCurrent'] = async (resourceType, id) => {
    // Serialises writers of one resource, including creates of a not-yet-existing id.
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`${resourceType}/${id}`]);
    const { rows } = await tx.query<Row>(
      `SELECT resource_type, id, version_id, last_updated, deleted, content
         FROM resource_current WHERE resource_type = $1 AND id = $2`,
      [resourceType, id],
    );
    return rows[0] && toVersionRow(rows[0]);
  };

  return {
    tx,
    lockCurrent,
    async write({ resourceType, id, method, resource, ifMatch }) {
      const current = await lockCurrent(resourceType, id);
      if (ifMatch !== undefined && current?.versionId !== ifMatch) {
        throw preconditionFailed(
          current
            ? `If-Match version ${ifMatch} does not match current version ${current.versionId}`
            : `If-Match given but ${resourceType}/${id} does not exist`,
        );
      }
      const versionId = (current?.versionId ?? 0) + 1;
      const lastUpdated = new Date().toISOString();
      const content: Resource | undefined = resource && {
        ...resource,
        id,
        meta: { ...resource.meta, versionId: String(versionId), lastUpdated },
      };
      await tx.query(
        `INSERT INTO resource_version (resource_type, id, version_id, last_updated, method, content)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [resourceType, id, versionId, lastUpdated, method, content ?? null],
      );
      await tx.query(
        `INSERT INTO resource_current (resource_type, id, version_id, last_updated, deleted, content)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (resource_type, id) DO UPDATE
           SET version_id = EXCLUDED.version_id, last_updated = EXCLUDED.last_updated,
               deleted = EXCLUDED.deleted, content = EXCLUDED.content`,
        [resourceType, id, versionId, lastUpdated, content === undefined, content ?? null],
      );
      await tokens.reindex(tx, resourceType, id, content);
      const stored: StoredVersion = { resourceType, id, versionId, lastUpdated, method, resource: content };
      written.push(stored);
      return { version: stored, created: !current || current.method === 'DELETE' };
    },
  };
}
