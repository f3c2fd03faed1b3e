import type { Database } from './database.js';
import { toVersionRow, type VersionRow } from './resource-store.js';

export interface HistoryQuery {
  resourceType?: string;
  id?: string;
  /** Only versions written at or after this instant. */
  since?: string;
  /** Only versions older than this position (paging cursor). */
  beforeSeq?: string;
  limit: number;
}

export interface HistoryPage {
  versions: Array<VersionRow & { seq: string }>;
  /** Position of the last version returned when more follow. */
  nextSeq: string | undefined;
  total: number;
}

/**
 * Versions newest first. Paging by position (`seq`) rather than offset keeps
 * pages stable while new versions are written.
 */
export async function loadHistory(db: Database, q: HistoryQuery): Promise<HistoryPage> {
  const values: unknown[] = [];
  const filters: string[] = [];
  if (q.resourceType) filters.push(`resource_type = $${values.push(q.resourceType)}`);
  if (q.id) filters.push(`id = $${values.push(q.id)}`);
  if (q.since) filters.push(`last_updated >= $${values.push(q.since)}`);
  const where = filters.length ? `WHERE ${filters.join(' AND ')}` : '';
  const pageFilters = q.beforeSeq ? [...filters, `seq < $${values.length + 1}`] : filters;
  const pageWhere = pageFilters.length ? `WHERE ${pageFilters.join(' AND ')}` : '';
  const pageValues = q.beforeSeq ? [...values, q.beforeSeq] : values;

  const [page, count] = await Promise.all([
    db.pool.query(
      `SELECT seq, resource_type, id, version_id, last_updated, method, content
         FROM resource_version ${pageWhere} ORDER BY seq DESC LIMIT ${q.limit + 1}`,
      pageValues,
    ),
    db.pool.query<{ total: string }>(
      `SELECT count(*) AS total FROM resource_version ${where}`,
      values,
    ),
  ]);
  const rows = page.rows.slice(0, q.limit);
  return {
    versions: rows.map((r) => ({ ...toVersionRow(r), seq: r.seq as string })),
    nextSeq: page.rows.length > q.limit ? (rows[rows.length - 1]?.seq as string) : undefined,
    total: Number(count.rows[0]?.total ?? 0),
  };
}
