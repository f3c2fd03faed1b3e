import type pg from 'pg';
import type { Logger } from '../logger.js';
import { batchesToDispatch, claimBatch, markDispatched } from './anchor-store.js';

export interface RelayParameters {
  pool: pg.Pool;
  batchSize: number;
  intervalMs: number;
  /** A dispatched batch still open after this long is dispatched again (lost job, outage). */
  staleMs: number;
  /** Hands batch ids (never content) to whoever anchors: BullMQ, or the in-process runner. */
  dispatch: (batchIds: string[]) => Promise<void>;
  logger: Logger;
}

export interface Relay {
  /** One pass: cut batches from the outbox, dispatch what waits. Never throws. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/** Most batches cut per pass, so one pass never holds the loop for long. */
const MAX_BATCHES_PER_TICK = 20;

/**
 * The outbox relay: every `intervalMs`, moves outbox rows into batches and dispatches them.
 * The write path never waits for it; when dispatching fails (Redis down) the batches stay in
 * PostgreSQL and the next pass tries again.
 *
 * @example
 * const relay = startRelay({ pool, batchSize: 10_000, intervalMs: 500, staleMs: 600_000, dispatch, logger });
 */
export function startRelay(params: RelayParameters): Relay {
  let running: Promise<void> | undefined;
  let stopped = false;
  let failing = false;

  const pass = async () => {
    for (let i = 0; i < MAX_BATCHES_PER_TICK; i++) {
      const batch = await claimBatch(params.pool, params.batchSize);
      if (!batch || batch.leafCount < params.batchSize) break;
    }
    const ids = await batchesToDispatch(params.pool, params.staleMs);
    if (ids.length === 0) return;
    await params.dispatch(ids);
    await markDispatched(params.pool, ids);
  };

  const tick = () => {
    running ??= pass()
      .then(() => {
        if (failing) params.logger.info('anchor relay recovered');
        failing = false;
      })
      .catch((err: unknown) => {
        // Logged once per outage, not once per pass.
        if (!failing)
          params.logger.warn({ err: summary(err) }, 'anchor relay pass failed; retrying');
        failing = true;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  const timer = setInterval(() => {
    if (!stopped) void tick();
  }, params.intervalMs);
  timer.unref();

  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

function summary(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err);
}
