import { Worker } from 'node:worker_threads';
import type { Logger } from '../../logger.js';
import type { AuditWorkerData, FromAuditWorker, ToAuditWorker } from './audit-worker.js';

export interface AuditThreadParameters extends AuditWorkerData {
  logger: Logger;
  /** After each batch the thread stored (the anchoring relay has versions to claim). */
  onWritten: () => void;
}

/**
 * Entries wait in the audit thread up to AUDIT_FLUSH_MS; with V8's default young generation
 * many of them outlived a scavenge under load and were promoted to an old space that also holds
 * the R4 definitions. With room for a flush's entries they die young: the thread's share of
 * time in garbage collection went from 29% to 21-22% under bench:consent (CPU profiles).
 */
const AUDIT_THREAD_LIMITS = { maxYoungGenerationSizeMb: 96 };

/** Entries are handed to the thread at most this long after the first of them. */
const HAND_OVER_MS = 50;

/**
 * The request thread's side of the audit thread (`audit-worker.ts`): `add` queues a request's
 * entry and never waits; the queue crosses to the thread every HAND_OVER_MS in one message.
 * `pending` counts entries not yet stored; if the thread dies it is Infinity, so reads are
 * refused (an access that cannot be audited is not served). `stop` stores what is left.
 */
export class AuditThread {
  readonly #params: AuditThreadParameters;
  /** Started with the first entry handed over: a server that audits nothing runs no thread. */
  #thread: { worker: Worker; ended: Promise<void> } | undefined;
  /** Entries as JSON (`AuditEntry`). */
  #queue: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #added = 0;
  #written = 0;
  #stored = 0;
  #failed = false;
  #stopping = false;

  constructor(params: AuditThreadParameters) {
    this.#params = params;
  }

  #start(): { worker: Worker; ended: Promise<void> } {
    const { logger, onWritten, ...data } = this.#params;
    const worker = startWorker(data);
    // Shutdown goes through stop(); a forgotten audit thread must not keep the process alive.
    worker.unref();
    const ended = new Promise<void>((resolve) => {
      worker.on('message', (message: FromAuditWorker) => {
        if (message.type === 'written') {
          this.#written += message.entries;
          this.#stored += message.events;
          onWritten();
        } else if (message.type === 'log') {
          logger.error(message.fields, message.message);
        } else if (message.type === 'stopped') {
          resolve();
        }
      });
      worker.on('error', (err) => {
        this.#failed = true;
        logger.error({ error: err.name }, 'audit: the audit thread failed; reads are refused');
        resolve();
      });
      worker.on('exit', () => {
        if (!this.#stopping) {
          this.#failed = true;
          logger.error({}, 'audit: the audit thread exited; reads are refused');
        }
        resolve();
      });
    });
    return { worker, ended };
  }

  /** Entries added and not yet stored (Infinity when the audit thread is gone). */
  get pending(): number {
    return this.#failed ? Number.POSITIVE_INFINITY : this.#added - this.#written;
  }

  /** Entries (audited requests) stored since start. */
  get written(): number {
    return this.#written;
  }

  /** AuditEvents stored since start: fewer than `written` when requests were grouped. */
  get stored(): number {
    return this.#stored;
  }

  /** Queues one entry: an `AuditEntry` as JSON. */
  add(entry: string): void {
    // With the thread gone nothing can be stored: reads are refused, and nothing piles up.
    if (this.#failed) return;
    this.#added++;
    this.#queue.push(entry);
    if (!this.#timer) {
      this.#timer = setTimeout(() => this.#handOver(), HAND_OVER_MS);
      this.#timer.unref();
    }
  }

  /** Hands over what is queued, stores everything, and ends the thread. */
  async stop(): Promise<void> {
    this.#handOver();
    const thread = this.#thread;
    if (!thread) return;
    if (!this.#stopping) {
      this.#stopping = true;
      if (!this.#failed) thread.worker.postMessage({ type: 'stop' } satisfies ToAuditWorker);
    }
    await thread.ended;
    const lost = this.#added - this.#written;
    if (lost > 0) this.#params.logger.error({ entries: lost }, 'audit: entries lost at shutdown');
    await thread.worker.terminate();
  }

  #handOver(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#queue.length === 0 || this.#failed || this.#stopping) return;
    this.#thread ??= this.#start();
    this.#thread.worker.postMessage({
      type: 'entries',
      entries: `[${this.#queue.join(',')}]`,
    } satisfies ToAuditWorker);
    this.#queue = [];
  }
}

/**
 * The built server starts `audit-worker.js`; run from the TypeScript sources (tests, tsx), the
 * worker registers tsx first (`worker-from-sources.mjs`).
 */
function startWorker(data: AuditWorkerData): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./audit-worker.js', import.meta.url), {
      workerData: data,
      resourceLimits: AUDIT_THREAD_LIMITS,
    });
  }
  const workerModule = new URL('./audit-worker.ts', import.meta.url).href;
  return new Worker(new URL('./worker-from-sources.mjs', import.meta.url), {
    workerData: { ...data, workerModule },
    resourceLimits: AUDIT_THREAD_LIMITS,
  });
}
