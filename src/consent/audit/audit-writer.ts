import type { AuditEvent } from 'fhir/r4.js';
import type { Principal } from '../../auth/principal.js';
import { parseScopes } from '../../auth/scopes.js';
import type { ResourceStore } from '../../fhir/storage/resource-store.js';
import { anchorWithoutProvenance } from '../../provenance/record-provenance.js';
import { SERVER_ISSUER } from '../enforcement/consent-caller.js';

export interface AuditWriterParameters<T> {
  store: ResourceStore;
  /** Where failed flushes are logged (a pino Logger, or the audit thread's relay to one). */
  logger: { error(fields: object, message: string): void };
  /** An entry is written at most this long after it is added (when the database is up). */
  flushMs: number;
  /** Entries (audited requests) per database transaction. */
  batchSize?: number;
  /**
   * The AuditEvents to store for a batch of entries, built when the batch is written (so an
   * entry is only what its request already held: `auditEventsOf` groups before building).
   */
  toEvents: (entries: T[]) => AuditEvent[];
  /** Longest wait between retries of a failed flush. */
  maxRetryMs?: number;
  /** Called after each stored batch: how many entries, as how many AuditEvents. */
  onWritten?: (entries: number, events: number) => void;
}

/**
 * The server itself as the writer of its AuditEvents: scope enforcement checks every write, and
 * this principal may create AuditEvents and nothing else.
 */
const AUDIT_SCOPE = 'system/AuditEvent.c';
export const AUDIT_WRITER: Principal = {
  issuer: SERVER_ISSUER,
  subject: 'fhir-ledger/audit',
  clientId: 'fhir-ledger/audit',
  scopes: parseScopes(AUDIT_SCOPE, (type) => type === 'AuditEvent'),
  scopeText: AUDIT_SCOPE,
  purposeOfUse: [],
};

/**
 * Buffers audit entries in memory and writes their AuditEvents in batches, one database
 * transaction per batch, through the real store: each is a versioned, indexed, searchable
 * resource with its anchor outbox row. `add` never waits, so no request waits for its audit. A
 * failed flush keeps the entries and retries with backoff; `stop` writes what is left.
 */
export class AuditWriter<T> {
  readonly #params: Required<AuditWriterParameters<T>>;
  #buffer: T[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #failures = 0;
  #written = 0;
  #stored = 0;
  /** When the oldest buffered event was added (performance.now()). */
  #oldestAt = 0;
  #stopped = false;

  constructor(params: AuditWriterParameters<T>) {
    this.#params = { batchSize: 500, maxRetryMs: 5000, onWritten: () => {}, ...params };
  }

  /** Entries (audited requests) written since start (for the benchmark and tests). */
  get written(): number {
    return this.#written;
  }

  /** AuditEvents stored since start: fewer than `written` when requests were grouped. */
  get stored(): number {
    return this.#stored;
  }

  /** Entries waiting to be written. */
  get pending(): number {
    return this.#buffer.length;
  }

  add(entry: T): void {
    if (this.#buffer.length === 0) this.#oldestAt = performance.now();
    this.#buffer.push(entry);
    this.#schedule(this.#params.flushMs);
  }

  /** Writes everything buffered; retries a few times, then logs how many were lost. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
    for (let attempt = 0; this.#buffer.length > 0 && attempt < 3; attempt++) {
      await this.#flush();
    }
    if (this.#buffer.length > 0) {
      this.#params.logger.error(
        { entries: this.#buffer.length },
        'audit: entries lost at shutdown',
      );
      this.#buffer = [];
    }
  }

  #schedule(delayMs: number): void {
    if (this.#timer || this.#flushing || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flushing = this.#flushAll().finally(() => {
        this.#flushing = undefined;
        if (this.#buffer.length > 0) this.#schedule(this.#nextDelay());
      });
    }, delayMs);
    // A pending flush must not keep the process alive; shutdown flushes through stop().
    this.#timer.unref();
  }

  /**
   * Writes what was buffered when the flush began, not what arrives meanwhile: under load the
   * next flush then comes `flushMs` after the oldest event that is left, so every flush carries
   * that much of the traffic (and its requests can share AuditEvents) instead of a trickle.
   */
  async #flushAll(): Promise<void> {
    const started = performance.now();
    let left = this.#buffer.length;
    while (left > 0) {
      const size = Math.min(left, this.#params.batchSize);
      if (!(await this.#flush(size))) return;
      left -= size;
    }
    // What is buffered now arrived during this flush, at the earliest when it began.
    if (this.#buffer.length > 0) this.#oldestAt = started;
  }

  /** One batch in one transaction; false when it failed (the batch stays buffered). */
  async #flush(size = this.#params.batchSize): Promise<boolean> {
    const batch = this.#buffer.splice(0, size);
    try {
      const ctx = anchorWithoutProvenance({ requestId: 'audit-flush', principal: AUDIT_WRITER });
      const events = this.#params.toEvents(batch);
      await this.#params.store.transaction(ctx, (writer) => writer.createMany(events));
      this.#written += batch.length;
      this.#stored += events.length;
      this.#params.onWritten(batch.length, events.length);
      this.#failures = 0;
      return true;
    } catch (err) {
      this.#buffer.unshift(...batch);
      this.#failures++;
      // The error's message and detail can quote ids or values of the events: name and code only.
      const { name, code } = (err ?? {}) as { name?: string; code?: string };
      this.#params.logger.error(
        { error: name, code, entries: batch.length, attempt: this.#failures },
        'audit: flush failed, will retry',
      );
      return false;
    }
  }

  #nextDelay(): number {
    if (this.#failures === 0) {
      return Math.max(0, this.#params.flushMs - (performance.now() - this.#oldestAt));
    }
    return Math.min(this.#params.flushMs * 2 ** this.#failures, this.#params.maxRetryMs);
  }
}
