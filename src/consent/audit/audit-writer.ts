import type { AuditEvent } from 'fhir/r4.js';
import type { Principal } from '../../auth/principal.js';
import { parseScopes } from '../../auth/scopes.js';
import type { ResourceStore } from '../../fhir/storage/resource-store.js';
import { anchorWithoutProvenance } from '../../provenance/record-provenance.js';
import { SERVER_ISSUER } from '../enforcement/consent-caller.js';

export interface AuditWriterParameters {
  store: ResourceStore;
  /** Where failed flushes are logged. */
  logger: { error(fields: object, message: string): void };
  /** AuditEvents per database transaction. */
  batchSize?: number;
  /** Wait before the first retry of a failed flush; it doubles with each failure. */
  firstRetryMs?: number;
  /** Longest wait between retries of a failed flush. */
  maxRetryMs?: number;
  /** Called after each stored batch: how many audited requests, as how many AuditEvents. */
  onWritten?: (requests: number, events: number) => void;
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

/** An AuditEvent to store, and how many audited requests it records. */
interface Pending {
  event: AuditEvent;
  requests: number;
}

/**
 * Buffers AuditEvents in memory and writes them in batches, one database transaction per
 * batch, through the real store: each is a versioned, indexed, searchable resource with its
 * anchor outbox row. `add` never waits, so no request waits for its audit: what is added is
 * written at once (`AuditLog` adds a flush's events together). A failed flush keeps the events
 * and retries with backoff; `stop` writes what is left.
 */
export class AuditWriter {
  readonly #params: Required<AuditWriterParameters>;
  #buffer: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #failures = 0;
  #written = 0;
  #stored = 0;
  #stopped = false;

  constructor(params: AuditWriterParameters) {
    this.#params = {
      batchSize: 20,
      firstRetryMs: 250,
      maxRetryMs: 5000,
      onWritten: () => {},
      ...params,
    };
  }

  /** Audited requests written since start (for the benchmark and tests). */
  get written(): number {
    return this.#written;
  }

  /** AuditEvents stored since start: fewer than `written` when requests were grouped. */
  get stored(): number {
    return this.#stored;
  }

  /** Queues an AuditEvent that records `requests` audited requests. */
  add(event: AuditEvent, requests: number): void {
    this.#buffer.push({ event, requests });
    this.#schedule(0);
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
        { events: this.#buffer.length },
        'audit: AuditEvents lost at shutdown',
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
        if (this.#buffer.length > 0) {
          this.#schedule(
            retryDelayMs(this.#failures, this.#params.firstRetryMs, this.#params.maxRetryMs),
          );
        }
      });
    }, delayMs);
    // A pending flush must not keep the process alive; shutdown flushes through stop().
    this.#timer.unref();
  }

  /** Writes what was buffered when the flush began (what arrives meanwhile, next). */
  async #flushAll(): Promise<void> {
    let left = this.#buffer.length;
    while (left > 0) {
      const size = Math.min(left, this.#params.batchSize);
      if (!(await this.#flush(size))) return;
      left -= size;
    }
  }

  /** One batch in one transaction; false when it failed (the batch stays buffered). */
  async #flush(size = this.#params.batchSize): Promise<boolean> {
    const batch = this.#buffer.splice(0, size);
    try {
      const ctx = anchorWithoutProvenance({ requestId: 'audit-flush', principal: AUDIT_WRITER });
      const events = batch.map((pending) => pending.event);
      await this.#params.store.transaction(ctx, (writer) => writer.createMany(events));
      let requests = 0;
      for (const pending of batch) requests += pending.requests;
      this.#written += requests;
      this.#stored += events.length;
      this.#params.onWritten(requests, events.length);
      this.#failures = 0;
      return true;
    } catch (err) {
      this.#buffer.unshift(...batch);
      this.#failures++;
      // The error's message and detail can quote ids or values of the events: name and code only.
      const { name, code } = (err ?? {}) as { name?: string; code?: string };
      this.#params.logger.error(
        { error: name, code, events: batch.length, attempt: this.#failures },
        'audit: flush failed, will retry',
      );
      return false;
    }
  }
}

/** Wait before the next flush: none after a success, doubling after each failure up to `maxMs`. */
export function retryDelayMs(failures: number, firstMs: number, maxMs: number): number {
  return failures === 0 ? 0 : Math.min(firstMs * 2 ** (failures - 1), maxMs);
}
