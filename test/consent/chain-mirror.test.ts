import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Hex } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainMirror } from '../../src/consent/chain-mirror.js';
import { decide } from '../../src/consent/decision-engine.js';
import { migrate } from '../../src/fhir/storage/migrate.js';
import { consentRegistryAbi } from '../../src/ledger/abi/consent-registry.js';
import { ANVIL_DEV_PRIVATE_KEYS } from '../../src/ledger/anvil.js';
import { ANY_ACTOR, Decision } from '../../src/ledger/consent-encoding.js';
import type { GrantTerms } from '../../src/ledger/consent-typed-data.js';
import { createLedgerClient, type LedgerClient } from '../../src/ledger/ledger-client.js';
import { startTestChain, type TestChain, waitFor } from '../support/test-chain.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const key = (): Hex => `0x${randomBytes(32).toString('hex')}`;

describe('chain mirror and decision engine against the ConsentRegistry on anvil', () => {
  let chain: TestChain;
  let db: TestDatabase;
  let pool: pg.Pool;
  let custodian: LedgerClient;
  let patientWallet: LedgerClient;
  let fromBlock: bigint;
  const mirrors: ChainMirror[] = [];

  const newMirror = (options: Partial<ConstructorParameters<typeof ChainMirror>[0]> = {}) => {
    const mirror = new ChainMirror({
      pool,
      client: chain.admin,
      registry: chain.consentRegistry,
      fromBlock,
      ...options,
    });
    mirrors.push(mirror);
    return mirror;
  };

  const write = async (
    functionName: 'grant' | 'update' | 'revoke',
    args: readonly unknown[],
    by: LedgerClient = custodian,
  ) => {
    const hash = await by.writeContract({
      address: chain.consentRegistry,
      abi: consentRegistryAbi,
      functionName,
      // biome-ignore lint/suspicious/noExplicitAny: one helper for three functions' tuples
      args: args as any,
      gas: 600_000n,
    });
    const receipt = await by.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') throw new Error(`${functionName} reverted`);
  };

  beforeAll(async () => {
    chain = await startTestChain();
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    await migrate(pool);
    custodian = await createLedgerClient({
      rpcUrl: chain.rpcUrl,
      privateKey: chain.operatorKey,
      pollingInterval: 10,
    });
    patientWallet = await createLedgerClient({
      rpcUrl: chain.rpcUrl,
      privateKey: ANVIL_DEV_PRIVATE_KEYS[2],
      pollingInterval: 10,
    });
    fromBlock = await chain.admin.getBlockNumber({ cacheTime: 0 });
  });

  afterAll(async () => {
    for (const m of mirrors) m.stop();
    await pool?.end();
    await db?.drop();
    await chain?.stop();
  });

  it('mirrors grants, updates, revocations, accounts and delegates, and rebuilds from logs', async () => {
    const patient = key();
    const actor = key();
    const terms: GrantTerms = {
      patient,
      actor,
      classes: 1n << 95n,
      actions: 1,
      purposes: 1,
      validFrom: 0n,
      validUntil: 0n,
      effect: 0,
      consentVersion: key(),
    };
    const grantId = key();
    const mirror = newMirror();
    expect(mirror.staleness()).toBe(Number.POSITIVE_INFINITY);
    await write('grant', [grantId, terms]);
    await mirror.sync();
    expect(mirror.staleness()).toBe(0);
    const request = { patientKey: patient, actorKey: actor, classBit: 95, action: 0, purpose: 0 };
    expect(decide(mirror, { ...request, time: 1n })).toBe(Decision.Permit);

    await write('update', [grantId, { ...terms, effect: 1 }]);
    await mirror.sync();
    expect(decide(mirror, { ...request, time: 1n })).toBe(Decision.Deny);

    // Another process (same database) applies the revocation first: this one finds the
    // mirror row moved past its memory, reloads from the tables, then follows the logs.
    await write('revoke', [grantId]);
    await chain.rpc('evm_mine');
    const other = newMirror();
    expect(other.staleness()).toBe(Number.POSITIVE_INFINITY);
    await other.sync();
    expect(decide(other, { ...request, time: 1n })).toBe(Decision.NotApplicable);
    expect(decide(mirror, { ...request, time: 1n })).toBe(Decision.Deny);
    await mirror.sync();
    expect(mirror.seenBlock).toBe(other.seenBlock);
    expect(decide(mirror, { ...request, time: 1n })).toBe(Decision.NotApplicable);

    await write('bindPatientAccount' as 'grant', [patient, patientWallet.account.address]);
    const delegate = privateKeyToAddress(key());
    const hash = await patientWallet.writeContract({
      address: chain.consentRegistry,
      abi: consentRegistryAbi,
      functionName: 'setDelegate',
      args: [patient, delegate, true],
    });
    await patientWallet.waitForTransactionReceipt({ hash });
    await other.sync();
    const account = await pool.query(
      'SELECT account FROM consent_patient_account WHERE patient = $1',
      [Buffer.from(patient.slice(2), 'hex')],
    );
    expect(`0x${account.rows[0].account.toString('hex')}`).toBe(
      patientWallet.account.address.toLowerCase(),
    );
    const delegates = await pool.query('SELECT count(*)::int AS n FROM consent_delegate');
    expect(delegates.rows[0].n).toBe(1);

    const before = await pool.query('SELECT * FROM consent_grant ORDER BY grant_id');
    const rebuilt = newMirror();
    await rebuilt.rebuild();
    const after = await pool.query('SELECT * FROM consent_grant ORDER BY grant_id');
    expect(after.rows).toEqual(before.rows);
    expect(decide(rebuilt, { ...request, time: 1n })).toBe(Decision.NotApplicable);
  });

  it('reports Infinity when the head is too old (loop stopped, chain unreachable)', async () => {
    // Wide enough that a sync on a loaded machine still finishes well inside the bound.
    const mirror = newMirror({ maxHeadAgeMs: 1000 });
    await mirror.sync();
    expect(mirror.staleness()).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(mirror.staleness()).toBe(Number.POSITIVE_INFINITY);
  });

  it('decides exactly like the contract over thousands of random grants and requests', async () => {
    // A small random world so that grants collide on patients, actors, bits and periods.
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
      return seed % n;
    };
    const patients = Array.from({ length: 6 }, key);
    const actors = [ANY_ACTOR, ...Array.from({ length: 4 }, key)] as Hex[];
    const classBits = [0, 1, 2, 95, 102, 145, 200, 255];
    const purposeBits = [0, 1, 2, 15, 31];
    // Bit 40 is beyond uint32 purposes: never granted, so never applicable.
    const askedPurposes = [...purposeBits, 40];
    const times = [0n, 100n, 200n, 300n, 400n, 500n];
    const pickMask = (bits: number[]) => {
      let mask = 0n;
      for (const b of bits) if (rand(3) === 0) mask |= 1n << BigInt(b);
      return mask === 0n ? 1n << BigInt(bits[rand(bits.length)] as number) : mask;
    };
    const randomTerms = (patient: Hex): GrantTerms => {
      const from = times[rand(times.length)] as bigint;
      const until = rand(3) === 0 ? 0n : from + 50n + BigInt(rand(300));
      return {
        patient,
        actor: actors[rand(actors.length)] as Hex,
        classes: rand(16) === 0 ? (1n << 256n) - 1n : pickMask(classBits),
        actions: 1 + rand(3),
        purposes: rand(8) === 0 ? 0xffff_ffff : Number(pickMask(purposeBits)),
        validFrom: from,
        validUntil: until,
        effect: rand(7) === 0 ? 1 : 0,
        consentVersion: key(),
      };
    };

    const mirror = newMirror();
    mirror.start();
    const live: { id: Hex; patient: Hex }[] = [];
    for (let i = 0; i < 300; i++) {
      const op = rand(10);
      if (op < 2 && live.length > 0) {
        const [victim] = live.splice(rand(live.length), 1);
        if (victim) await write('revoke', [victim.id]);
      } else if (op < 4 && live.length > 0) {
        const target = live[rand(live.length)] as { id: Hex; patient: Hex };
        await write('update', [target.id, randomTerms(target.patient)]);
      } else {
        const id = key();
        const patient = patients[rand(patients.length)] as Hex;
        await write('grant', [id, randomTerms(patient)]);
        live.push({ id, patient });
      }
    }
    mirror.stop();
    await mirror.sync();
    expect(mirror.staleness()).toBe(0);

    const requests = Array.from({ length: 3000 }, () => ({
      patientKey: patients[rand(patients.length)] as Hex,
      actorKey: actors[rand(actors.length)] as Hex,
      classBit: classBits[rand(classBits.length)] as number,
      action: rand(3),
      purpose: askedPurposes[rand(askedPurposes.length)] as number,
      // Half on a validFrom exactly, half anywhere across every period.
      time: rand(2) === 0 ? (times[rand(times.length)] as bigint) : BigInt(rand(900)),
    }));
    const onChain = await Promise.all(
      requests.map((r) =>
        chain.admin.readContract({
          address: chain.consentRegistry,
          abi: consentRegistryAbi,
          functionName: 'decide',
          args: [r.patientKey, r.actorKey, r.classBit, r.action, r.purpose, r.time],
        }),
      ),
    );
    const engine = requests.map((r) => decide(mirror, r));
    const counts = { 0: 0, 1: 0, 2: 0 } as Record<number, number>;
    for (const d of onChain) counts[d] = (counts[d] ?? 0) + 1;
    // The world is dense enough that every outcome occurs often.
    expect(counts[Decision.Permit]).toBeGreaterThan(100);
    expect(counts[Decision.Deny]).toBeGreaterThan(100);
    expect(counts[Decision.NotApplicable]).toBeGreaterThan(100);
    expect(engine).toEqual(onChain);

    // The same state reloaded from PostgreSQL alone decides the same.
    const reloaded = newMirror();
    await reloaded.sync();
    expect(requests.map((r) => decide(reloaded, r))).toEqual(onChain);

    // And rebuilt from the logs alone, a few blocks per eth_getLogs call.
    const rebuilt = newMirror({ chunkSize: 7n });
    await rebuilt.rebuild();
    expect(requests.map((r) => decide(rebuilt, r))).toEqual(onChain);
  });

  it('follows the chain on its own: a revocation stops permitting within a poll', async () => {
    const patient = key();
    const actor = key();
    const grantId = key();
    const mirror = newMirror({ pollingIntervalMs: 20 });
    mirror.start();
    const request = { patientKey: patient, actorKey: actor, classBit: 0, action: 0, purpose: 0 };
    const decision = () => decide(mirror, { ...request, time: 10n });
    await write('grant', [
      grantId,
      {
        patient,
        actor: ANY_ACTOR,
        classes: 1n,
        actions: 1,
        purposes: 1,
        validFrom: 0n,
        validUntil: 0n,
        effect: 0,
        consentVersion: key(),
      },
    ]);
    await waitFor('the grant', async () => decision() === Decision.Permit, 5000);
    await write('revoke', [grantId]);
    const revokedAt = Date.now();
    await waitFor('the revocation', async () => decision() === Decision.NotApplicable, 5000);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    mirror.stop();
  });

  it('fails closed when the chain does not answer', async () => {
    const mirror = newMirror({
      client: await createLedgerClient({
        rpcUrl: 'http://127.0.0.1:9',
        privateKey: chain.operatorKey,
        chainId: 31337,
      }),
      pollingIntervalMs: 20,
    });
    await expect(mirror.sync()).rejects.toThrow();
    mirror.start();
    await waitFor('a failed round', async () => mirror.lastError !== undefined, 5000);
    mirror.stop();
    expect(mirror.staleness()).toBe(Number.POSITIVE_INFINITY);
  });

  // Last: it rewinds the chain under the other tests' grants.
  it('replays from the logs when the block it stopped at is gone (reorganisation, reset)', async () => {
    const patient = key();
    const grantId = key();
    const mirror = newMirror();
    await mirror.sync();
    const snapshot = await chain.rpc('evm_snapshot');
    await write('grant', [
      grantId,
      {
        patient,
        actor: ANY_ACTOR,
        classes: 1n,
        actions: 1,
        purposes: 1,
        validFrom: 0n,
        validUntil: 0n,
        effect: 0,
        consentVersion: key(),
      },
    ]);
    await chain.rpc('evm_mine');
    await mirror.sync();
    const request = {
      patientKey: patient,
      actorKey: ANY_ACTOR,
      classBit: 0,
      action: 0,
      purpose: 0,
    };
    expect(decide(mirror, { ...request, time: 1n })).toBe(Decision.Permit);
    await chain.rpc('evm_revert', [snapshot]);
    // Another history of the same height: the old blocks' hashes are gone.
    await chain.rpc('anvil_mine', ['0x3']);
    await mirror.sync();
    expect(decide(mirror, { ...request, time: 1n })).toBe(Decision.NotApplicable);
    const rows = await pool.query(
      'SELECT count(*)::int AS n FROM consent_grant WHERE grant_id = $1',
      [Buffer.from(grantId.slice(2), 'hex')],
    );
    expect(rows.rows[0].n).toBe(0);
  });
});
