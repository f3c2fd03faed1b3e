import type { Logger } from '../logger.js';
import { type AnchorBatchDependencies, anchorBatch } from './anchor-batch.js';
import { recordError } from './anchor-store.js';
import { AnchorUnrecoverableError } from './errors.js';

const MAX_BACKOFF_MS = 30_000;
/** First retry of an error a retry cannot fix by itself (a missing role...): doubles to 5 min. */
const UNRECOVERABLE_RETRY_MS = 5_000;
const MAX_UNRECOVERABLE_RETRY_MS = 5 * 60_000;

/**
 * Anchoring without Redis (the embedded default): the relay's batches are anchored in this
 * process by the same `anchorBatch` the queue workers run, up to `concurrency` at a time (so
 * batches cut while one waits for its block go into the same block), with the same retry
 * rules: transport errors back off (0.5 s doubling to 30 s), unrecoverable ones are logged
 * as errors and tried again after 5 s doubling to every 5 minutes (an operator may fix the
 * cause, e.g. grant the anchorer role back).
 */
export function startInProcessAnchoring(
  deps: AnchorBatchDependencies,
  logger: Logger,
  concurrency = 1,
) {
  const waiting = new Map<string, { notBefore: number; failures: number }>();
  const running = new Set<Promise<void>>();
  const busy = new Set<string>();
  let stopped = false;
  let wake: (() => void) | undefined;
  let idle: Promise<void> = Promise.resolve();

  const attempt = async (batchId: string, state: { notBefore: number; failures: number }) => {
    try {
      const outcome = await anchorBatch(deps, batchId);
      waiting.delete(batchId);
      logger.info({ batchId, outcome }, 'anchor batch done');
    } catch (err) {
      if (stopped) return;
      const unrecoverable = err instanceof AnchorUnrecoverableError;
      await recordError(deps.pool, batchId, String(err), unrecoverable).catch(() => {});
      state.failures++;
      if (unrecoverable) {
        logger.error({ batchId, err: err.shortMessage }, 'anchoring cannot succeed');
        // An operator can fix these (grant the anchorer role back): try again, rarely.
        const delay = UNRECOVERABLE_RETRY_MS * 2 ** Math.min(state.failures - 1, 10);
        state.notBefore = Date.now() + Math.min(delay, MAX_UNRECOVERABLE_RETRY_MS);
      } else {
        const delay = Math.min(500 * 2 ** (state.failures - 1), MAX_BACKOFF_MS);
        if (state.failures === 1 || state.failures % 10 === 0) {
          logger.warn({ batchId, err: (err as Error).message.split('\n')[0] }, 'anchoring retry');
        }
        state.notBefore = Date.now() + delay;
      }
    }
  };

  const loop = async () => {
    while (!stopped) {
      const now = Date.now();
      const due =
        running.size < concurrency
          ? [...waiting.entries()].find(([id, s]) => s.notBefore <= now && !busy.has(id))
          : undefined;
      if (!due) {
        // Batches being anchored wake the loop when they finish: only the retry times of the
        // others (and room under `concurrency`) are worth a timer. Counting the running ones
        // made the loop spin every 10 ms while a batch waited for its receipt.
        const idleStates =
          running.size < concurrency
            ? [...waiting.entries()].filter(([id]) => !busy.has(id)).map(([, s]) => s.notBefore)
            : [];
        const next = Math.min(...idleStates, now + 1000);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.max(10, next - now)).unref();
        });
        continue;
      }
      const [batchId, state] = due;
      busy.add(batchId);
      const run = attempt(batchId, state).finally(() => {
        busy.delete(batchId);
        running.delete(run);
        wake?.();
      });
      running.add(run);
    }
  };
  idle = loop();

  return {
    /** Accepts batches from the relay; ones already waiting keep their retry schedule. */
    async enqueue(batchIds: string[]): Promise<void> {
      for (const id of batchIds) {
        if (!waiting.has(id)) waiting.set(id, { notBefore: 0, failures: 0 });
      }
      wake?.();
    },
    /** Stops taking batches; one waiting on a receipt is left to resume from the database. */
    async close(): Promise<void> {
      stopped = true;
      wake?.();
      await Promise.race([
        Promise.all([idle, ...running]),
        new Promise((resolve) => setTimeout(resolve, 2000).unref()),
      ]);
    },
  };
}
