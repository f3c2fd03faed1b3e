import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import type { Parameters } from 'fhir/r4.js';
import pg from 'pg';
import { readContract } from 'viem/actions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provenanceAnchorAbi } from '../../src/ledger/abi/provenance-anchor.js';
import { startTestChain, type TestChain, waitFor } from '../support/test-chain.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const JSON_TYPE = 'application/fhir+json';
let chain: TestChain;
let server: TestServer;
let api: TestServer['api'];
let db: pg.Client;

beforeAll(async () => {
  chain = await startTestChain();
  server = await startTestServer({ ledger: chain.ledgerConfig() });
  api = server.api;
  db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await server?.close();
  await chain?.stop();
});

const param = (p: Parameters, name: string) => p.parameter?.find((x) => x.name === name);
const values = (p: Parameters, name: string) =>
  (p.parameter ?? []).filter((x) => x.name === name).map((x) => x.valueString!);

async function allAnchored(): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT count(*)::int AS open FROM anchor_leaf o LEFT JOIN anchor_batch b ON b.id = o.batch_id
      WHERE b.anchored_at IS NULL`,
  );
  return rows[0].open === 0;
}

describe('anchoring in process (no Redis) and $verify', () => {
  it('announces the chain and contracts at $ledger', async () => {
    const res = await api.get('/$ledger').expect(200);
    expect(param(res.body, 'chainId')?.valueInteger).toBe(31337);
    expect(param(res.body, 'provenanceAnchor')?.valueString).toBe(chain.provenanceAnchor);
    expect(param(res.body, 'consentRegistry')?.valueString).toBe(chain.consentRegistry);
    expect(param(res.body, 'rpcUrl')?.valueUrl).toBe(chain.rpcUrl);
  });

  it('anchors every version in batches; proofs check off chain and on chain', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await api
        .post('/Patient')
        .set('Content-Type', JSON_TYPE)
        .send({ resourceType: 'Patient', name: [{ family: `Anchored${i}` }] })
        .expect(201);
      ids.push(res.body.id);
    }
    await api.delete(`/Patient/${ids[0]}`).expect((r) => expect(r.status).toBeLessThan(300));
    await waitFor('every outbox row anchored', allAnchored);

    const roots = new Set<string>();
    for (const [ref, expectedStatus] of [
      [`Patient/${ids[1]}/_history/1`, 'anchored'],
      [`Patient/${ids[0]}/_history/2`, 'anchored'], // the deletion's tombstone
    ] as const) {
      const res = await api.get(`/${ref}/$verify`).expect(200);
      const p = res.body as Parameters;
      expect(param(p, 'status')?.valueCode).toBe(expectedStatus);
      expect(param(p, 'verified')?.valueBoolean).toBe(true);
      const root = param(p, 'merkleRoot')!.valueString! as `0x${string}`;
      const contentHash = param(p, 'contentHash')!.valueString!;
      const proof = values(p, 'proof') as `0x${string}`[];
      roots.add(root);
      expect(
        StandardMerkleTree.verify(root, ['string', 'bytes32'], [ref, contentHash], proof),
      ).toBe(true);
      const onChain = await readContract(chain.admin, {
        address: chain.provenanceAnchor,
        abi: provenanceAnchorAbi,
        functionName: 'verify',
        args: [proof, root, param(p, 'leaf')!.valueString! as `0x${string}`],
      });
      expect(onChain).toBe(true);
      expect(param(p, 'transactionHash')?.valueString).toMatch(/^0x[0-9a-f]{64}$/);
      expect(param(p, 'blockNumber')?.valueInteger).toBeGreaterThan(0);
    }
    // 7 creates + 1 delete, each with its Provenance: 16 leaves in batches of at most 5. The
    // $verify reads above are audited: their AuditEvent is stored and anchored a flush later, so
    // the batches are compared once everything written is anchored. A batch anchored twice, or
    // not at all, never lets the two counts agree.
    let batches = 0;
    await waitFor('one anchor on chain per batch, every batch anchored', async () => {
      const count = await readContract(chain.admin, {
        address: chain.provenanceAnchor,
        abi: provenanceAnchorAbi,
        functionName: 'anchorCount',
      });
      const { rows } = await db.query('SELECT count(*)::int AS n FROM anchor_batch');
      batches = rows[0].n;
      return (await allAnchored()) && Number(count) === batches;
    });
    expect(batches).toBeGreaterThanOrEqual(4);
  });

  it('reports mismatch for a version altered in the database afterwards', async () => {
    const res = await api
      .post('/Patient')
      .set('Content-Type', JSON_TYPE)
      .send({ resourceType: 'Patient', name: [{ family: 'Tampered' }] })
      .expect(201);
    await waitFor('the new version anchored', allAnchored);
    await db.query(
      `UPDATE resource_version SET content = jsonb_set(content, '{name,0,family}', '"Forged"')
        WHERE resource_type = 'Patient' AND id = $1`,
      [res.body.id],
    );
    const verify = await api.get(`/Patient/${res.body.id}/_history/1/$verify`).expect(200);
    expect(param(verify.body, 'status')?.valueCode).toBe('mismatch');
    expect(param(verify.body, 'verified')?.valueBoolean).toBe(false);
    await api.get(`/Patient/${res.body.id}/_history/9/$verify`).expect(404);
  });
});
