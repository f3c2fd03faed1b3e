import type pg from 'pg';
import {
  type Address,
  BlockNotFoundError,
  type GetContractEventsReturnType,
  type Hex,
  type PublicClient,
} from 'viem';
import { consentRegistryAbi } from '../ledger/abi/consent-registry.js';
import type { GrantTerms } from '../ledger/consent-typed-data.js';
import type { ConsentState } from './decision-engine.js';

export interface ChainMirrorParameters {
  pool: pg.Pool;
  /** Any viem client with public actions (a LedgerClient works). */
  client: Pick<PublicClient, 'getBlock' | 'getBlockNumber' | 'getContractEvents'>;
  registry: Address;
  /** The registry's deployment block: logs are read from here on a fresh database. */
  fromBlock: bigint;
  /** Reads the chain's head block number; default `client.getBlockNumber` (uncached). */
  readHead?: () => Promise<bigint>;
  /** Blocks the mirror stays behind the head, for chains that reorganise. Default 0. */
  confirmations?: bigint;
  /** Blocks per `eth_getLogs` call. Default 2000. */
  chunkSize?: bigint;
  /** Poll interval of `start()`. Default 250 ms. */
  pollingIntervalMs?: number;
  /**
   * A head older than this counts as unknown, so `staleness()` is Infinity when the follow
   * loop stopped or the chain stopped answering. Default 5000 ms.
   */
  maxHeadAgeMs?: number;
}

const ACTIVE = 1;
const REVOKED = 2;

/**
 * Follows ConsentRegistry events into PostgreSQL (migration 004-consent) and keeps the
 * active grants in memory for the decision engine. The logs are the only source: `rebuild()`
 * drops the mirrored rows and replays them. Several processes may share one database: each
 * sync holds the registry's row lock, and a process that finds the row moved by another
 * reloads its memory from the tables before applying more logs.
 *
 * @example
 * const mirror = new ChainMirror({ pool, client, registry, fromBlock });
 * await mirror.sync();
 * if (mirror.staleness() > bound) throw unavailable();
 */
export class ChainMirror implements ConsentState {
  readonly #p: Required<ChainMirrorParameters>;
  readonly #registry: Buffer;
  #memBlock = -1n;
  #version = 0;
  #pairs = new Map<string, Map<Hex, GrantTerms>>();
  #pairOf = new Map<Hex, string>();
  #head: bigint | undefined;
  #headAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  /** The sync that `catchUp` callers share. */
  #shared: Promise<bigint> | undefined;
  readonly #logListeners = new Set<() => void>();
  /** The last error of the follow loop, if its last round failed. */
  lastError: unknown;

  constructor(params: ChainMirrorParameters) {
    this.#p = {
      confirmations: 0n,
      chunkSize: 2000n,
      pollingIntervalMs: 250,
      maxHeadAgeMs: 5000,
      ...params,
      readHead: params.readHead ?? (() => params.client.getBlockNumber({ cacheTime: 0 })),
    };
    this.#registry = bytes(params.registry);
  }

  /** The last block whose logs are applied in memory (-1 before the first sync). */
  get seenBlock(): bigint {
    return this.#memBlock;
  }

  /**
   * Changes whenever the grants in memory change (logs applied, state reloaded): a decision
   * remembered at one version may be reused at that version and block only.
   */
  get version(): number {
    return this.#version;
  }

  /**
   * Blocks between the chain head and the mirrored state: Infinity when the head is unknown
   * or older than `maxHeadAgeMs` (chain unreachable, loop stopped). Callers fail closed above
   * their bound.
   */
  staleness(): number {
    if (this.#head === undefined || this.#memBlock < 0n) return Number.POSITIVE_INFINITY;
    if (Date.now() - this.#headAt > this.#p.maxHeadAgeMs) return Number.POSITIVE_INFINITY;
    // Measured against the block the mirror aims at: it stays `confirmations` behind on purpose.
    const behind = this.#head - this.#p.confirmations - this.#memBlock;
    return behind > 0n ? Number(behind) : 0;
  }

  activeGrants(patient: string, actor: string): Iterable<GrantTerms> {
    return this.#pairs.get(pairKey(patient, actor))?.values() ?? [];
  }

  activeGrantEntries(patient: string, actor: string): Iterable<[Hex, GrantTerms]> {
    return this.#pairs.get(pairKey(patient, actor))?.entries() ?? [];
  }

  /**
   * Calls `listener` after each round that committed ConsentRegistry logs (the tables are up
   * to date when it runs); returns the function that removes it.
   */
  onLogs(listener: () => void): () => void {
    this.#logListeners.add(listener);
    return () => this.#logListeners.delete(listener);
  }

  /** Applies every log up to the head (minus confirmations); returns the block reached. */
  async sync(): Promise<bigint> {
    const head = await this.#p.readHead();
    this.#head = head;
    this.#headAt = Date.now();
    const target = head - this.#p.confirmations;
    // Nothing new: no database round (a lower head, a reset chain, still goes through #step).
    if (target === this.#memBlock) return target;
    for (;;) {
      const reached = await this.#step(target);
      if (reached >= target) return reached;
    }
  }

  /**
   * Waits, at most `timeoutMs`, until the mirror is at most `bound` blocks behind the head:
   * the follow loop's head moves ahead of the applied block at the start of every round, and on
   * a chain with a block per transaction that can be several blocks at once. Rounds are shared,
   * so many waiting requests cause one sync, not one each. Resolves whether it got there.
   */
  async catchUp(bound: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.staleness() > bound) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      this.#shared ??= this.sync().finally(() => {
        this.#shared = undefined;
      });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), left);
      });
      const outcome = await Promise.race([this.#shared.catch(() => 'failed' as const), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout' || outcome === 'failed') return this.staleness() <= bound;
    }
    return true;
  }

  /** Polls `sync()` until `stop()`; errors are kept in `lastError` and staleness grows. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const round = async () => {
      try {
        await this.sync();
        this.lastError = undefined;
      } catch (err) {
        this.lastError = err;
      }
      if (this.#running) this.#timer = setTimeout(round, this.#p.pollingIntervalMs);
    };
    void round();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
  }

  /** Drops this registry's mirrored rows and replays its logs from `fromBlock`. */
  async rebuild(): Promise<bigint> {
    const client = await this.#p.pool.connect();
    try {
      await client.query('BEGIN');
      await this.#wipe(client);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
    this.#memBlock = -1n;
    return this.sync();
  }

  async #wipe(db: pg.PoolClient): Promise<void> {
    for (const table of [
      'consent_mirror',
      'consent_grant',
      'consent_patient_account',
      'consent_delegate',
    ]) {
      await db.query(`DELETE FROM ${table} WHERE registry = $1`, [this.#registry]);
    }
  }

  /** Whether the block the mirror stopped at is still the chain's block at that height. */
  async #onChain(block: bigint, hash: Buffer | null): Promise<boolean> {
    if (hash === null) return true;
    const current = await this.#p.client.getBlock({ blockNumber: block }).catch((err) => {
      if (err instanceof BlockNotFoundError) return undefined;
      throw err;
    });
    return current?.hash === hex(hash);
  }

  async #step(target: bigint): Promise<bigint> {
    const db = await this.#p.pool.connect();
    try {
      await db.query('BEGIN');
      // These tables are a copy of the chain's logs: a crash may lose the last rounds (never part
      // of one: a transaction is lost whole), and the next start replays them from the chain.
      // So a round does not wait for its WAL flush, which after heavy writes (the audit, anchors)
      // held a revocation back from the decisions by tens of milliseconds.
      await db.query('SET LOCAL synchronous_commit = off');
      await db.query(
        'INSERT INTO consent_mirror (registry, last_block) VALUES ($1, $2) ON CONFLICT DO NOTHING',
        [this.#registry, (this.#p.fromBlock - 1n).toString()],
      );
      const select =
        'SELECT last_block, last_block_hash FROM consent_mirror WHERE registry = $1 FOR UPDATE';
      let { rows } = await db.query<{ last_block: string; last_block_hash: Buffer | null }>(
        select,
        [this.#registry],
      );
      if (
        !(await this.#onChain(
          BigInt(rows[0]?.last_block ?? '-1'),
          rows[0]?.last_block_hash ?? null,
        ))
      ) {
        // The chain no longer has the block we stopped at (a reorganisation deeper than
        // `confirmations`, or a chain reset): the logs we applied may be gone, so replay all.
        await this.#wipe(db);
        await db.query('INSERT INTO consent_mirror (registry, last_block) VALUES ($1, $2)', [
          this.#registry,
          (this.#p.fromBlock - 1n).toString(),
        ]);
        ({ rows } = await db.query(select, [this.#registry]));
        this.#memBlock = -2n;
      }
      const last = BigInt(rows[0]?.last_block ?? '-1');
      if (last !== this.#memBlock) await this.#load(db, last);
      if (last >= target) {
        await db.query('COMMIT');
        return last;
      }
      const to = last + this.#p.chunkSize < target ? last + this.#p.chunkSize : target;
      // Both requests at once: one round trip less between a revocation's block and the deny.
      const [logs, reached] = await Promise.all([
        this.#p.client.getContractEvents({
          address: this.#p.registry,
          abi: consentRegistryAbi,
          fromBlock: last + 1n,
          toBlock: to,
          strict: true,
        }),
        this.#p.client.getBlock({ blockNumber: to }),
      ]);
      // Memory changes only once the round commits, all at once: a decision made meanwhile
      // (decisions are synchronous) sees the state of one block, never half a round.
      const pending: Array<() => void> = [];
      for (const log of logs) await this.#apply(db, log, pending);
      await db.query(
        'UPDATE consent_mirror SET last_block = $2, last_block_hash = $3 WHERE registry = $1',
        [this.#registry, to.toString(), bytes(reached.hash)],
      );
      await db.query('COMMIT');
      for (const change of pending) change();
      if (pending.length > 0) this.#version++;
      this.#memBlock = to;
      if (logs.length > 0) for (const listener of this.#logListeners) listener();
      return to;
    } catch (err) {
      await db.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      db.release();
    }
  }

  async #load(db: pg.PoolClient, block: bigint): Promise<void> {
    const { rows } = await db.query<GrantRow>(
      'SELECT * FROM consent_grant WHERE registry = $1 AND status = $2',
      [this.#registry, ACTIVE],
    );
    // Swapped in whole after the query, so no decision sees an empty or partial state.
    this.#pairs = new Map();
    this.#pairOf = new Map();
    for (const row of rows) this.#remember(hex(row.grant_id), grantTermsFromRow(row));
    this.#version++;
    this.#memBlock = block;
  }

  /** Writes one log to the tables; its change to memory is queued on `pending`. */
  async #apply(db: pg.PoolClient, log: RegistryLog, pending: Array<() => void>): Promise<void> {
    const r = this.#registry;
    switch (log.eventName) {
      case 'GrantCreated':
      case 'GrantUpdated': {
        const { grantId, terms } = log.args;
        const t = terms as GrantTerms;
        await db.query(
          `INSERT INTO consent_grant (registry, grant_id, patient, actor, classes, actions,
             purposes, valid_from, valid_until, effect, consent_version, status, block_number)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (registry, grant_id) DO UPDATE SET patient = $3, actor = $4,
             classes = $5, actions = $6, purposes = $7, valid_from = $8, valid_until = $9,
             effect = $10, consent_version = $11, status = $12, block_number = $13`,
          [
            r,
            bytes(grantId),
            bytes(t.patient),
            bytes(t.actor),
            t.classes.toString(),
            t.actions,
            t.purposes,
            t.validFrom.toString(),
            t.validUntil.toString(),
            t.effect,
            bytes(t.consentVersion),
            ACTIVE,
            log.blockNumber.toString(),
          ],
        );
        pending.push(() => {
          this.#forget(grantId);
          this.#remember(grantId, { ...t });
        });
        return;
      }
      case 'GrantRevoked':
        await db.query(
          'UPDATE consent_grant SET status = $3, block_number = $4 WHERE registry = $1 AND grant_id = $2',
          [r, bytes(log.args.grantId), REVOKED, log.blockNumber.toString()],
        );
        pending.push(() => this.#forget(log.args.grantId));
        return;
      case 'PatientAccountBound':
      case 'PatientAccountTransferred':
        await db.query(
          `INSERT INTO consent_patient_account (registry, patient, account) VALUES ($1, $2, $3)
           ON CONFLICT (registry, patient) DO UPDATE SET account = $3`,
          [r, bytes(log.args.patient), bytes(log.args.account)],
        );
        return;
      case 'DelegateChanged':
        await db.query(
          log.args.allowed
            ? 'INSERT INTO consent_delegate VALUES ($1, $2, $3) ON CONFLICT DO NOTHING'
            : 'DELETE FROM consent_delegate WHERE registry = $1 AND patient = $2 AND delegate = $3',
          [r, bytes(log.args.patient), bytes(log.args.delegate)],
        );
        return;
      case 'CustodianGrantsDisabled':
        await db.query(
          'UPDATE consent_mirror SET custodian_grants_allowed = false WHERE registry = $1',
          [r],
        );
        return;
      default:
        // Role events (AccessControl) do not change consent decisions.
        return;
    }
  }

  #remember(grantId: Hex, terms: GrantTerms): void {
    const key = pairKey(terms.patient, terms.actor);
    let pair = this.#pairs.get(key);
    if (!pair) {
      pair = new Map();
      this.#pairs.set(key, pair);
    }
    pair.set(grantId.toLowerCase() as Hex, terms);
    this.#pairOf.set(grantId.toLowerCase() as Hex, key);
  }

  #forget(grantId: Hex): void {
    const id = grantId.toLowerCase() as Hex;
    const key = this.#pairOf.get(id);
    if (key === undefined) return;
    this.#pairs.get(key)?.delete(id);
    this.#pairOf.delete(id);
  }
}

type RegistryLog = GetContractEventsReturnType<
  typeof consentRegistryAbi,
  undefined,
  true,
  bigint,
  bigint
>[number];

export interface GrantRow {
  grant_id: Buffer;
  patient: Buffer;
  actor: Buffer;
  classes: string;
  actions: number;
  purposes: string;
  valid_from: string;
  valid_until: string;
  effect: number;
  consent_version: Buffer;
}

/** A `consent_grant` row as the grant terms viem would decode from the chain. */
export function grantTermsFromRow(row: Omit<GrantRow, 'grant_id'>): GrantTerms {
  return {
    patient: hex(row.patient),
    actor: hex(row.actor),
    classes: BigInt(row.classes),
    actions: row.actions,
    purposes: Number(row.purposes),
    validFrom: BigInt(row.valid_from),
    validUntil: BigInt(row.valid_until),
    effect: row.effect,
    consentVersion: hex(row.consent_version),
  };
}

function pairKey(patient: string, actor: string): string {
  return `${patient.toLowerCase()}:${actor.toLowerCase()}`;
}

function bytes(value: Hex): Buffer {
  return Buffer.from(value.slice(2), 'hex');
}

function hex(value: Buffer): Hex {
  return `0x${value.toString('hex')}`;
}
