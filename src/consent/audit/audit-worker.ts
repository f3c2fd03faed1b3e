/**
 * The audit thread (a worker_threads Worker started by `AuditThread`): builds the AuditEvents
 * of the groups the request thread formed and stores them through a store of its own, so that
 * building, indexing, hashing and writing them take nothing from the requests.
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
import { AuditWriter } from './audit-writer.js';
import { type AuditGroup, groupEvent } from './group-audit-events.js';

export interface AuditWorkerData {
  databaseUrl: string;
}

/** `groups`: a flush of requests, grouped by the AuditEvent each will be in. */
export type ToAuditWorker = { type: 'groups'; groups: AuditGroup[] } | { type: 'stop' };

export type FromAuditWorker =
  /** A batch was stored: `requests` request-patient parts as `events` AuditEvents. */
  | { type: 'written'; requests: number; events: number }
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
// The groups arrive once per flush: their events are built on arrival and written at once.
const writer = new AuditWriter({
  store,
  logger,
  flushMs: 0,
  onWritten: (requests, events) => send({ type: 'written', requests, events }),
});

port.on('message', (message: ToAuditWorker) => {
  if (message.type === 'groups') {
    for (const group of message.groups) {
      writer.add(groupEvent(group), group.requests.length);
    }
    return;
  }
  void writer
    .stop()
    .then(() => db.close())
    .finally(() => send({ type: 'stopped' }));
});
