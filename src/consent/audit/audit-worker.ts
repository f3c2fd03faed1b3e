/**
 * The audit thread (a worker_threads Worker started by `AuditThread`): builds the AuditEvents
 * of the entries the request thread sends and stores them through a store of its own, so that
 * grouping, building, indexing, hashing and writing them take nothing from the requests.
 * Writes go through the same store code and the same provenance listener (an anchor outbox
 * row per AuditEvent), on a small pool of its own.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadDefinitions } from '../../fhir/definitions.js';
import { createHooks } from '../../fhir/hooks.js';
import { createParamResolver } from '../../fhir/search/search-parameters.js';
import { connectDatabase } from '../../fhir/storage/database.js';
import { createResourceStore } from '../../fhir/storage/resource-store.js';
import { registerProvenance } from '../../provenance/record-provenance.js';
import { type AuditEntry, auditedRequest } from './audit-entry.js';
import { AuditWriter } from './audit-writer.js';
import type { AuditedRequest } from './balp-audit-events.js';
import { auditEventsOf } from './group-audit-events.js';

export interface AuditWorkerData {
  databaseUrl: string;
  flushMs: number;
  group: boolean;
  server: AuditedRequest['server'];
}

/** `entries`: the queued `AuditEntry`s as one JSON array text (one copy across, one parse). */
export type ToAuditWorker = { type: 'entries'; entries: string } | { type: 'stop' };

export type FromAuditWorker =
  /** A batch was stored: `entries` requests as `events` AuditEvents. */
  | { type: 'written'; entries: number; events: number }
  /** An error to log in the request thread's logger (names and codes only, never messages). */
  | { type: 'log'; fields: Record<string, unknown>; message: string }
  | { type: 'stopped' };

const port = parentPort!;
const data = workerData as AuditWorkerData;
const send = (message: FromAuditWorker) => port.postMessage(message);
const logger = {
  error: (fields: object, message: string) => send({ type: 'log', fields: { ...fields }, message }),
};

const db = connectDatabase(data.databaseUrl, 2);
const definitions = loadDefinitions();
const hooks = createHooks();
registerProvenance(hooks, definitions);
const store = createResourceStore(db, hooks, createParamResolver(definitions), (err) => {
  const { name, code } = (err ?? {}) as { name?: string; code?: string };
  logger.error({ error: name, code }, 'audit: afterCommit hook failed');
});
const writer = new AuditWriter<AuditEntry>({
  store,
  logger,
  flushMs: data.flushMs,
  toEvents: (entries) =>
    auditEventsOf(
      entries.map((entry) => auditedRequest(entry, data.server)),
      data.group,
    ),
  onWritten: (entries, events) => send({ type: 'written', entries, events }),
});

port.on('message', (message: ToAuditWorker) => {
  if (message.type === 'entries') {
    for (const entry of JSON.parse(message.entries) as AuditEntry[]) writer.add(entry);
    return;
  }
  void writer
    .stop()
    .then(() => db.close())
    .finally(() => send({ type: 'stopped' }));
});
