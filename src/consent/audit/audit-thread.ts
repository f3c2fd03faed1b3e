import { Worker } from 'node:worker_threads';
import type { Logger } from '../../logger.js';
import type { AuditWorkerData, FromAuditWorker, ToAuditWorker } from './audit-worker.js';
import type { AuditedRequest } from './balp-audit-events.js';
import { AuditGroups } from './group-audit-events.js';

export interface AuditThreadParameters extends AuditWorkerData {
  /** A request's AuditEvent group is handed over at most this long after its first request. */
  flushMs: number;
  /** Merge the requests that record the same access (`AuditGroups`); false: one event each. */
  group: boolean;
  logger: Logger;
  /** After each batch the thread stored (the anchoring relay has versions to claim). */
  onWritten: () => void;
}

/**
 * Groups arrive whole and are stored at once; the thread's young generation has room for a
 * flush of them (with V8's default, under load, some outlived a scavenge and were promoted to
 * an old space that also holds the R4 definitions).
 */
const AUDIT_THREAD_LIMITS = { maxYoungGenerationSizeMb: 96 };

/**
 * The request thread's side of the audit thread (`audit-worker.ts`): `add` folds a request into
 * its AuditEvent's group (`AuditGroups`) and never waits; every `flushMs` (after the first
 * request) the groups cross to the thread in one message, which builds and stores their
 * events. `pending` counts request-patient parts not yet stored; if the thread dies it is
 * Infinity, so reads are refused (an access that cannot be audited is not served). `stop`
 * stores what is left.
 */
export class AuditThread {
  readonly #params: AuditThreadParameters;
  /** Started with the first groups handed over: a server that audits nothing runs no thread. */
  #thread: { worker: Worker; ended: Promise<void> } | undefined;
  readonly #groups: AuditGroups;
  #timer: NodeJS.Timeout | undefined;
  #added = 0;
  #written = 0;
  #stored = 0;
  #failed = false;
  #stopping = false;

  constructor(params: AuditThreadParameters) {
    this.#params = params;
    this.#groups = new AuditGroups(params.group);
  }

  #start(): { worker: Worker; ended: Promise<void> } {
    const { logger, onWritten, flushMs: _, group: __, ...data } = this.#params;
    const worker = startWorker(data);
    // Shutdown goes through stop(); a forgotten audit thread must not keep the process alive.
    worker.unref();
    const ended = new Promise<void>((resolve) => {
      worker.on('message', (message: FromAuditWorker) => {
        if (message.type === 'written') {
          this.#written += message.requests;
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

  /** Request-patient parts added and not yet stored (Infinity when the audit thread is gone). */
  get pending(): number {
    return this.#failed ? Number.POSITIVE_INFINITY : this.#added - this.#written;
  }

  /** Request-patient parts stored since start. */
  get written(): number {
    return this.#written;
  }

  /** AuditEvents stored since start: fewer than `written` when requests were grouped. */
  get stored(): number {
    return this.#stored;
  }

  /** Adds a finished request to its AuditEvent's group, one per patient it touched. */
  add(request: AuditedRequest): void {
    // With the thread gone nothing can be stored: reads are refused, and nothing piles up.
    if (this.#failed) return;
    this.#added += this.#groups.add(request);
    if (!this.#timer) {
      this.#timer = setTimeout(() => this.#handOver(), this.#params.flushMs);
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
    if (lost > 0) this.#params.logger.error({ requests: lost }, 'audit: requests lost at shutdown');
    await thread.worker.terminate();
  }

  #handOver(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#groups.facets === 0 || this.#failed || this.#stopping) return;
    this.#thread ??= this.#start();
    this.#thread.worker.postMessage({
      type: 'groups',
      groups: this.#groups.take(),
    } satisfies ToAuditWorker);
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
