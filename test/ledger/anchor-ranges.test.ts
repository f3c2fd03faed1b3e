import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { privateKeyToAccount } from 'viem/accounts';
import { readContract, writeContract } from 'viem/actions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../src/fhir/storage/database.js';
import { migrate } from '../../src/fhir/storage/migrate.js';
import { provenanceAnchorAbi } from '../../src/ledger/abi/provenance-anchor.js';
import { claimRanges, outboxHorizon } from '../../src/ledger/anchor-store.js';
import { startLedger } from '../../src/ledger/start-ledger.js';
import { createLogger } from '../../src/logger.js';
import { createPatients, openRows } from '../support/anchoring.js';
import { startTestChain, type TestChain, waitFor } from '../support/test-chain.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

describe('claiming outbox seq ranges', () => {
  let database: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = connectDatabase(database.url, 12);
    await migrate(db.pool);
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  let next = 0;
  /** One writer transaction's outbox insert, as the write path does it; committed by `end`. */
  async function write(count: number): Promise<{ end(commit?: boolean): Promise<void> }> {
    const client = await db.pool.connect();
    await client.query('BEGIN');
    const ids = Array.from({ length: count }, () => `r${next++}`);
    const bytes = ids.map((id) => Buffer.alloc(32, id));
    await client.query(
      `INSERT INTO anchor_outbox (resource_type, id, version_id, content_hash, leaf)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bytea[], $5::bytea[])`,
      [ids.map(() => 'Patient'), ids, ids.map(() => 1), bytes, bytes],
    );
    return {
      async end(commit = true) {
        await client.query(commit ? 'COMMIT' : 'ROLLBACK');
        client.release();
      },
    };
  }

  /** Every outbox row with the number of batches that hold it, and the ranges claimed. */
  async function claimedState() {
    const { rows: held } = await db.pool.query<{ seq: string; batches: number }>(
      `SELECT o.seq, count(b.id)::int AS batches FROM anchor_outbox o
         LEFT JOIN anchor_batch b ON o.seq BETWEEN b.first_seq AND b.last_seq
        GROUP BY o.seq`,
    );
    const { rows: ranges } = await db.pool.query<{ first: string; last: string }>(
      'SELECT first_seq AS first, last_seq AS last FROM anchor_batch ORDER BY first_seq',
    );
    return { held, ranges };
  }

  it('never claims past a writer that has not committed, and claims its rows once it has', async () => {
    const early = await write(1);
    const late = await write(3);
    await late.end();
    expect(await outboxHorizon(db.pool, 50)).toBeUndefined();

    await early.end();
    const horizon = await outboxHorizon(db.pool, 50);
    expect(horizon).toBeDefined();
    expect(await claimRanges(db.pool, horizon!, 100, 10)).toHaveLength(1);
    expect((await claimedState()).held.map((r) => r.batches)).toEqual([1, 1, 1, 1]);

    // A rolled-back writer leaves a gap, never a row that is claimed later.
    const aborted = await write(2);
    await aborted.end(false);
    const after = await outboxHorizon(db.pool, 50);
    expect(await claimRanges(db.pool, after!, 100, 10)).toEqual([]);
    const { held } = await claimedState();
    expect(held.every((r) => r.batches === 1)).toBe(true);
  });

  it('concurrent writers and relays: every row in exactly one batch, ranges never overlap', async () => {
    const relays = async (stop: () => boolean) => {
      while (!stop()) {
        const horizon = await outboxHorizon(db.pool, 200);
        if (horizon !== undefined) await claimRanges(db.pool, horizon, 7, 3);
      }
    };
    let writing = true;
    const claiming = Promise.all([1, 2, 3].map(() => relays(() => !writing)));
    await Promise.all(
      Array.from({ length: 6 }, async (_, w) => {
        for (let i = 0; i < 15; i++) {
          const tx = await write(1 + ((w + i) % 4));
          await tx.end((w + i) % 9 !== 0);
        }
      }),
    );
    writing = false;
    await claiming;
    const horizon = await outboxHorizon(db.pool, 1000);
    await claimRanges(db.pool, horizon!, 7, 1000);

    const { held, ranges } = await claimedState();
    expect(held.length).toBeGreaterThan(100);
    expect(held.filter((r) => r.batches !== 1)).toEqual([]);
    for (let i = 1; i < ranges.length; i++) {
      expect(BigInt(ranges[i]!.first)).toBeGreaterThan(BigInt(ranges[i - 1]!.last));
    }
    expect(ranges.every((r) => BigInt(r.last) - BigInt(r.first) < 7n)).toBe(true);
  });
});

describe('a chain that lost anchored blocks', () => {
  let chain: TestChain;
  let server: TestServer;
  let db: pg.Client;
  let dir: string;
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-anchor-loss-'));
    chain = await startTestChain();
    server = await startTestServer({ ledger: chain.ledgerConfig() });
    db = new pg.Client({ connectionString: server.databaseUrl });
    await db.connect();
  }, 60_000);
  afterAll(async () => {
    for (const stop of stops) await stop();
    await db?.end();
    await server?.close();
    await chain?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('re-anchors on start the batches whose roots the chain no longer has', async () => {
    await createPatients(server, 3, 'Kept');
    await waitFor('the first versions anchored', async () => (await openRows(db)) === 0);
    // What an embedded anvil killed between two state dumps comes back with.
    const dumped = await chain.rpc('evm_snapshot');
    await createPatients(server, 3, 'Lost');
    await waitFor('the later versions anchored', async () => (await openRows(db)) === 0);
    await server.ledger!.stop();
    await chain.rpc('evm_revert', [dumped]);

    const ledger = await startLedger({
      config: chain.ledgerConfig(),
      dataDir: dir,
      pool: server.services.db.pool,
      logger: createLogger('silent'),
      allowCustodianGrants: true,
    });
    stops.push(ledger.stop);
    server.services.ledger = ledger.operations;
    await waitFor('the lost batches anchored again', async () => (await openRows(db)) === 0);

    const { rows } = await db.query<{ root: Buffer }>('SELECT root FROM anchor_batch');
    for (const { root } of rows) {
      const anchor = await readContract(chain.admin, {
        address: chain.provenanceAnchor,
        abi: provenanceAnchorAbi,
        functionName: 'getAnchor',
        args: [`0x${root.toString('hex')}`],
      });
      expect(anchor.anchoredAt).toBeGreaterThan(0n);
    }
    const count = await readContract(chain.admin, {
      address: chain.provenanceAnchor,
      abi: provenanceAnchorAbi,
      functionName: 'anchorCount',
    });
    expect(Number(count)).toBe(new Set(rows.map((r) => r.root.toString('hex'))).size);
    const { rows: lost } = await db.query<{ id: string }>(
      `SELECT id FROM resource_version WHERE content->'name'->0->>'family' = 'Lost2'`,
    );
    const verify = await server.api.get(`/Patient/${lost[0]!.id}/_history/1/$verify`).expect(200);
    const param = (name: string) =>
      verify.body.parameter.find((p: { name: string }) => p.name === name);
    expect(param('status').valueCode).toBe('anchored');
    expect(param('verified').valueBoolean).toBe(true);
  });

  it('counts in $ledger what waits, what is anchored and what cannot succeed', async () => {
    const anchoring = async () => {
      const res = await server.api.get('/$ledger').expect(200);
      const part = res.body.parameter.find((p: { name: string }) => p.name === 'anchoring').part;
      return Object.fromEntries(
        part.map((p: { name: string; valueInteger?: number; valueDecimal?: number }) => [
          p.name,
          p.valueInteger ?? p.valueDecimal,
        ]),
      ) as Record<
        'anchoredVersions' | 'openBatches' | 'failingBatches' | 'unrecoverableBatches',
        number
      >;
    };
    const healthy = await anchoring();
    expect(healthy.anchoredVersions).toBeGreaterThanOrEqual(12); // 6 Patients + 6 Provenances
    expect(healthy.openBatches).toBe(0);
    expect(healthy.unrecoverableBatches).toBe(0);

    // Without the anchorer role the transaction would revert: no retry can fix that.
    const role = await readContract(chain.admin, {
      address: chain.provenanceAnchor,
      abi: provenanceAnchorAbi,
      functionName: 'ANCHORER_ROLE',
    });
    await writeContract(chain.admin, {
      address: chain.provenanceAnchor,
      abi: provenanceAnchorAbi,
      functionName: 'revokeRole',
      args: [role, privateKeyToAccount(chain.operatorKey).address],
    });
    await createPatients(server, 1, 'NoRole');
    await waitFor('the failure counted', async () => (await anchoring()).unrecoverableBatches > 0);
    const failing = await anchoring();
    expect(failing.failingBatches).toBeGreaterThanOrEqual(failing.unrecoverableBatches);
    expect(failing.openBatches).toBeGreaterThanOrEqual(1);
    expect(failing.anchoredVersions).toBe(healthy.anchoredVersions);
  });
});
