import type { ResourceStore } from '../../fhir/storage/resource-store.js';
import type { Logger } from '../../logger.js';
import { AuditWriter } from './audit-writer.js';
import type { AuditedRequest } from './balp-audit-events.js';
import { AuditGroups, groupEvent } from './group-audit-events.js';

export interface AuditLogParameters {
  /** Writes the AuditEvents (a store whose only listener records their anchor outbox rows). */
  store: ResourceStore;
  logger: Logger;
  /** Requests are grouped this long (from the first of a flush), then their events written. */
  flushMs: number;
  /** Merge the requests that record the same access (`AuditGroups`); false: one event each. */
  group: boolean;
  /** After each stored batch (the anchoring relay has versions to claim). */
  onWritten: () => void;
}

/**
 * The audit of finished requests: `add` folds a request into its AuditEvent's group
 * (`AuditGroups`) and never waits; `flushMs` after the first request of a flush, each group's
 * AuditEvent is built (`groupEvent`) and handed to an `AuditWriter`, which stores them in
 * batches and retries failed writes. `pending` counts request-patient parts not yet stored; it
 * is Infinity once an AuditEvent could not be built (a bug), so reads are refused: an access
 * that cannot be audited is not served. `stop` stores what is left.
 */
export class AuditLog {
  readonly #params: AuditLogParameters;
  readonly #groups: AuditGroups;
  readonly #writer: AuditWriter;
  #timer: NodeJS.Timeout | undefined;
  #added = 0;
  #failed = false;

  constructor(params: AuditLogParameters) {
    this.#params = params;
    this.#groups = new AuditGroups(params.group);
    this.#writer = new AuditWriter({
      store: params.store,
      logger: params.logger,
      onWritten: params.onWritten,
    });
  }

  /** Request-patient parts added and not yet stored (Infinity once the audit failed). */
  get pending(): number {
    return this.#failed ? Number.POSITIVE_INFINITY : this.#added - this.#writer.written;
  }

  /** Request-patient parts stored since start. */
  get written(): number {
    return this.#writer.written;
  }

  /** AuditEvents stored since start: fewer than `written` when requests were grouped. */
  get stored(): number {
    return this.#writer.stored;
  }

  /** Adds a finished request to its AuditEvent's group, one per patient it touched. */
  add(request: AuditedRequest): void {
    // Once the audit failed nothing more is kept: reads are refused, and nothing piles up.
    if (this.#failed) return;
    this.#added += this.#groups.add(request);
    if (!this.#timer) {
      this.#timer = setTimeout(() => this.#flush(), this.#params.flushMs);
      this.#timer.unref();
    }
  }

  /** Builds the AuditEvents of the groups formed so far and stores everything. */
  async stop(): Promise<void> {
    this.#flush();
    await this.#writer.stop();
    const lost = this.#added - this.#writer.written;
    if (lost > 0) this.#params.logger.error({ requests: lost }, 'audit: requests lost at shutdown');
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const group of this.#groups.take()) {
      try {
        this.#writer.add(groupEvent(group), group.requests.length);
      } catch (err) {
        // The rest of this flush is dropped with it: reads are refused from now on.
        this.#failed = true;
        this.#params.logger.error(
          { error: (err as Error).name },
          'audit: an AuditEvent could not be built; reads are refused',
        );
        return;
      }
    }
  }
}
