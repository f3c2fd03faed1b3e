import type { AuditEvent } from 'fhir/r4.js';
import type pg from 'pg';
import { expect } from 'vitest';
import { waitFor } from '../support/test-chain.js';

/**
 * The AuditEvents of one request (by X-Request-Id), polled until `count` are stored: its own
 * (the request-id entity), or one it was merged into (the id in that entity's `requests`).
 */
export async function auditsOf(
  db: pg.Client,
  requestId: string,
  count: number,
): Promise<AuditEvent[]> {
  let found: AuditEvent[] = [];
  await waitFor(`${count} AuditEvent(s) of request ${requestId}`, async () => {
    const { rows } = await db.query<{ content: AuditEvent }>(
      `SELECT content FROM resource_current WHERE resource_type = 'AuditEvent'
          AND (content @> jsonb_build_object('entity', jsonb_build_array(
                jsonb_build_object('what', jsonb_build_object('identifier', jsonb_build_object('value', $1::text)))))
            OR EXISTS (SELECT 1 FROM jsonb_array_elements(content->'entity') e,
                              jsonb_array_elements(e->'detail') d
                        WHERE d->>'type' = 'requests'
                          AND $1::text = ANY (string_to_array(d->>'valueString', ' '))))`,
      [requestId],
    );
    found = rows.map((r) => r.content);
    return found.length >= count;
  });
  expect(found).toHaveLength(count);
  return found;
}
