import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';
import { type AnchorBatchDependencies, anchorBatch } from './anchor-batch.js';
import { recordError } from './anchor-store.js';
import { AnchorUnrecoverableError } from './errors.js';

/** The anchoring queue: how batches are enqueued (API side) and processed (`fhir-ledger worker`). */
export const DEFAULT_ANCHOR_QUEUE = 'anchor';

/** What a job carries: the batch's database id, nothing about its content. */
export interface AnchorJobData {
  batchId: string;
}

// Reconnect quickly and for ever: the default backoff grows to 20 s before Redis is tried again.
const retryStrategy = (times: number) => Math.min(times * 100, 1000);

/**
 * The producer side. Fails fast while Redis is down (one try per command, no offline queue),
 * so the relay keeps the batches in PostgreSQL and retries, and the API never waits on Redis.
 */
export function createAnchorQueue(redisUrl: string, name = DEFAULT_ANCHOR_QUEUE) {
  const connection = new Redis(redisUrl, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2000,
    retryStrategy,
  });
  // Errors surface as failed commands; the connection itself must not crash the process.
  connection.on('error', () => {});
  const queue = new Queue<AnchorJobData>(name, { connection });
  queue.on('error', () => {});
  return {
    /** Adds one job per batch; the job id is the batch's, so a re-dispatch is de-duplicated. */
    async enqueue(batchIds: string[]): Promise<void> {
      await queue.addBulk(
        batchIds.map((batchId) => ({
          name: 'anchor-batch',
          data: { batchId },
          opts: {
            jobId: `batch-${batchId}`,
            attempts: 12,
            backoff: { type: 'exponential', delay: 500 },
            removeOnComplete: true,
            removeOnFail: true,
          },
        })),
      );
    },
    async close(): Promise<void> {
      await queue.close();
      connection.disconnect();
    },
  };
}

export interface StartAnchorWorkerParameters {
  redisUrl: string;
  queueName?: string;
  deps: AnchorBatchDependencies;
  logger: Logger;
  concurrency?: number;
  /** How often dead workers' jobs are looked for; a job's lock lasts twice this. Default 5 s. */
  stalledCheckMs?: number;
}

/**
 * The consumer side: one job = one batch, anchored by `anchorBatch`, which re-reads state so a
 * job run twice (after a crash, a stall or a re-dispatch) is harmless.
 */
export function startAnchorWorker(params: StartAnchorWorkerParameters) {
  const connection = new Redis(params.redisUrl, {
    maxRetriesPerRequest: null,
    connectTimeout: 2000,
    retryStrategy,
  } satisfies RedisOptions);
  connection.on('error', () => {});
  const worker = new Worker<AnchorJobData>(
    params.queueName ?? DEFAULT_ANCHOR_QUEUE,
    async (job) => {
      const { batchId } = job.data;
      try {
        const outcome = await anchorBatch(params.deps, batchId);
        params.logger.info({ batchId, outcome }, 'anchor batch done');
      } catch (err) {
        await recordError(
          params.deps.pool,
          batchId,
          String(err),
          err instanceof AnchorUnrecoverableError,
        ).catch(() => {});
        if (err instanceof AnchorUnrecoverableError) {
          params.logger.error({ batchId, err: err.shortMessage }, 'anchoring cannot succeed');
          throw new UnrecoverableError(err.shortMessage);
        }
        params.logger.warn(
          { batchId, err: (err as Error).message.split('\n')[0] },
          'anchoring retry',
        );
        throw err;
      }
    },
    {
      connection,
      concurrency: params.concurrency ?? 1,
      // A killed worker's job is back in the queue within seconds; a live one renews its lock.
      lockDuration: 2 * (params.stalledCheckMs ?? 5000),
      stalledInterval: params.stalledCheckMs ?? 5000,
    },
  );
  worker.on('error', () => {});
  return {
    worker,
    async close(): Promise<void> {
      await worker.close();
      connection.disconnect();
    },
  };
}
