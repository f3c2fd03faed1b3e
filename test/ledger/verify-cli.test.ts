import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Parameters } from 'fhir/r4.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVerifyCommand } from '../../src/ledger/verify-cli/verify-command.js';
import { startTestChain, type TestChain, waitFor } from '../support/test-chain.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const JSON_TYPE = 'application/fhir+json';
let chain: TestChain;
let server: TestServer;
let db: pg.Client;
let startedAt: string;

beforeAll(async () => {
  chain = await startTestChain();
  server = await startTestServer({ ledger: chain.ledgerConfig({ batchSize: 50 }) });
  db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
  startedAt = new Date(Date.now() - 1000).toISOString();
});
afterAll(async () => {
  await db?.end();
  await server?.close();
  await chain?.stop();
});

async function allAnchored(): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT count(*)::int AS open FROM anchor_leaf o LEFT JOIN anchor_batch b ON b.id = o.batch_id
      WHERE b.anchored_at IS NULL`,
  );
  return rows[0].open === 0;
}

async function createPatient(family: string): Promise<string> {
  const res = await server.api
    .post('/Patient')
    .set('Content-Type', JSON_TYPE)
    .send({ resourceType: 'Patient', name: [{ family }] })
    .expect(201);
  return res.body.id;
}

/** Runs `fhir-ledger verify` in this process; returns its exit code and what it printed. */
async function verify(args: string[], base = server.base) {
  let out = '';
  let err = '';
  const code = await runVerifyCommand(
    [...args, '--url', base, '--token', server.token],
    { write: (t: string) => (out += t) },
    { write: (t: string) => (err += t) },
  );
  return { code, out, err };
}

describe('fhir-ledger verify (trusts neither the server verdict nor its database)', () => {
  let updated: string;
  let deleted: string;

  it('verifies one version, a whole history (with a deletion) and a time window', async () => {
    updated = await createPatient('Verified');
    await server.api
      .put(`/Patient/${updated}`)
      .set('Content-Type', JSON_TYPE)
      .send({ resourceType: 'Patient', id: updated, name: [{ family: 'Verified', given: ['B'] }] })
      .expect(200);
    deleted = await createPatient('Deleted');
    await server.api
      .delete(`/Patient/${deleted}`)
      .expect((r) => expect(r.status).toBeLessThan(300));
    await waitFor('every version anchored', allAnchored);

    const one = await verify([`Patient/${updated}/_history/1`]);
    expect(one.err).toBe('');
    expect(one.out).toContain('1 verified, 0 mismatch');
    expect(one.out).toMatch(/anchored in root 0x[0-9a-f]{64} at block \d+/);
    expect(one.code).toBe(0);

    const history = await verify([`Patient/${updated}`]);
    expect(history.out).toContain('Versions: 2: 2 verified');
    expect(history.code).toBe(0);

    const tombstone = await verify([`Patient/${deleted}`]);
    expect(tombstone.out).toContain('Versions: 2: 2 verified');
    expect(tombstone.code).toBe(0);

    // Patients, their Provenance and the AuditEvents of reads so far; all anchored by now.
    await waitFor('audit events anchored too', allAnchored);
    const window = await verify(['--since', startedAt, '--allow-pending']);
    const total = Number(/Versions: (\d+)/.exec(window.out)?.[1]);
    expect(total).toBeGreaterThanOrEqual(8);
    expect(window.out).toMatch(/0 mismatch, \d+ pending, 0 errors/);
    expect(window.code).toBe(0);

    const typeWindow = await verify(['Patient', '--since', startedAt]);
    expect(typeWindow.out).toContain('Versions: 4: 4 verified');
    expect(typeWindow.code).toBe(0);
  });

  it('reports a version altered in the database afterwards as a mismatch and exits 1', async () => {
    const id = await createPatient('Tampered');
    await waitFor('the new version anchored', allAnchored);
    expect((await verify([`Patient/${id}/_history/1`])).code).toBe(0);
    await db.query(
      `UPDATE resource_version SET content = jsonb_set(content, '{name,0,family}', '"Forged"')
        WHERE resource_type = 'Patient' AND id = $1`,
      [id],
    );
    const result = await verify([`Patient/${id}/_history/1`]);
    expect(result.out).toContain(`MISMATCH Patient/${id}/_history/1`);
    expect(result.out).toContain('0 verified, 1 mismatch');
    expect(result.code).toBe(1);
  });

  it('fails a forged proof even when the server says verified', async () => {
    const lying = await startForgingProxy(server.base);
    try {
      const result = await verify([`Patient/${updated}/_history/1`], lying.base);
      expect(result.out).toContain('not anchored on chain');
      expect(result.code).toBe(1);
    } finally {
      await lying.close();
    }
  });

  it('reads the anchoring from the chain it is told to, not the one the server names', async () => {
    const other = await startTestChain();
    try {
      const ledger = other.ledgerConfig().chain as { provenanceAnchor: string };
      const result = await verify([
        `Patient/${updated}/_history/2`,
        '--rpc-url',
        other.rpcUrl,
        '--anchor-address',
        ledger.provenanceAnchor,
      ]);
      expect(result.out).toContain(`chain 31337 at ${other.rpcUrl}`);
      expect(result.out).toContain('1 mismatch');
      expect(result.code).toBe(1);
    } finally {
      await other.stop();
    }
  });

  it('refuses to run without a token or a target', async () => {
    let err = '';
    const sink = { write: (t: string) => (err += t) };
    expect(await runVerifyCommand(['Patient/1'], sink, sink)).toBe(2);
    expect(err).toContain('--token');
    expect(await runVerifyCommand(['--token', 't'], sink, sink)).toBe(2);
  });
});

/**
 * A server that answers like the real one but forges one proof sibling (adds one when there is
 * none) and says verified.
 */
async function startForgingProxy(target: string) {
  const proxy = http.createServer(async (req, res) => {
    const upstream = await fetch(`${target}${req.url!.replace(/^\/fhir/, '')}`, {
      headers: { authorization: req.headers.authorization ?? '', accept: JSON_TYPE },
    });
    let body = await upstream.text();
    if (req.url!.endsWith('/$verify') && upstream.ok) {
      const p = JSON.parse(body) as Parameters;
      // A version anchored alone in its batch has no sibling: the forger adds one.
      const forged = `0x${'ab'.repeat(32)}`;
      const sibling = p.parameter!.find((x) => x.name === 'proof');
      if (sibling) sibling.valueString = forged;
      else p.parameter!.push({ name: 'proof', valueString: forged });
      p.parameter!.find((x) => x.name === 'verified')!.valueBoolean = true;
      body = JSON.stringify(p);
    }
    res.writeHead(upstream.status, { 'content-type': JSON_TYPE }).end(body);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/fhir`,
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}
