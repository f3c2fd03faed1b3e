import type pg from 'pg';
import type { Logger } from '../logger.js';
import { batchesToDispatch, claimRanges, markDispatched, outboxHorizon } from './anchor-store.js';

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
  /**
   * New rows were committed: run a pass now if none ran for `intervalMs`, else right when
   * that much time has passed, so a write waits for no timer and a busy server still cuts
   * one batch per interval rather than one per write.
   */
  wake(): void;
  stop(): Promise<void>;
}

/** Most batches cut per pass, so one pass never holds the loop for long. */
const MAX_BATCHES_PER_TICK = 20;

/**
 * The outbox relay: every `intervalMs` (and on `wake`), claims the outbox rows committed so
 * far as seq-range batches and dispatches them. The write path never waits for it; when
 * dispatching fails (Redis down) the batches stay in PostgreSQL and the next pass tries again.
 *
 * @example
 * const relay = startRelay({ pool, batchSize: 10_000, intervalMs: 500, staleMs: 600_000, dispatch, logger });
 */
export function startRelay(params: RelayParameters): Relay {
  let running: Promise<void> | undefined;
  let stopped = false;
  let failing = false;
  let lastStart = 0;
  let woken: NodeJS.Timeout | undefined;

  const pass = async () => {
    lastStart = Date.now();
    // Writers finish their commit within milliseconds; a longer wait means a stuck one,
    // and the next pass tries again rather than hold this one.
    const horizon = await outboxHorizon(params.pool, Math.min(params.intervalMs, 1000));
    if (horizon !== undefined) {
      await claimRanges(params.pool, horizon, params.batchSize, MAX_BATCHES_PER_TICK);
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

  const wake = () => {
    if (stopped || woken) return;
    const requested = Date.now();
    woken = setTimeout(
      () => {
        woken = undefined;
        if (stopped || lastStart >= requested) return;
        // A pass under way since before the wake may have missed the rows: one more after it.
        if (running) void running.then(() => tick());
        else void tick();
      },
      Math.max(0, lastStart + params.intervalMs - requested),
    );
    woken.unref();
  };

  return {
    tick,
    wake,
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(woken);
      await running;
    },
  };
}

function summary(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err);
}
