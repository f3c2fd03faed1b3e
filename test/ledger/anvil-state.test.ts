import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ANVIL_DEV_PRIVATE_KEYS, startAnvil } from '../../src/ledger/anvil.js';
import { runDeployCli } from '../../src/ledger/deploy-cli.js';
import { ensureContracts } from '../../src/ledger/ensure-contracts.js';
import { createLedgerClient } from '../../src/ledger/ledger-client.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-anvil-'));
  dirs.push(dir);
  return dir;
}

describe('startAnvil with a state file', () => {
  it('keeps the chain, and so the deployment, across restarts', async () => {
    const dir = await tempDir();
    const stateFile = path.join(dir, 'chain-state.json');
    const file = path.join(dir, 'contracts.json');

    const first = await startAnvil({ stateFile });
    const firstClient = await createLedgerClient({
      rpcUrl: first.rpcUrl,
      privateKey: ANVIL_DEV_PRIVATE_KEYS[0],
      pollingInterval: 50,
    });
    const deployed = await ensureContracts(firstClient, { file, allowCustodianGrants: false });
    expect(deployed.deployed).toBe(true);
    await first.stop();

    const second = await startAnvil({ stateFile });
    try {
      const client = await createLedgerClient({
        rpcUrl: second.rpcUrl,
        privateKey: ANVIL_DEV_PRIVATE_KEYS[0],
        pollingInterval: 50,
      });
      const again = await ensureContracts(client, { file, allowCustodianGrants: false });
      expect(again.deployed).toBe(false);
      expect(again.consentRegistry).toBe(deployed.consentRegistry);
      expect(again.provenanceAnchor).toBe(deployed.provenanceAnchor);
    } finally {
      await second.stop();
    }
  });

  it('redeploys when the recorded chain is gone', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'contracts.json');
    for (const expected of [true, true]) {
      const anvil = await startAnvil();
      try {
        const client = await createLedgerClient({
          rpcUrl: anvil.rpcUrl,
          privateKey: ANVIL_DEV_PRIVATE_KEYS[0],
          pollingInterval: 50,
        });
        const result = await ensureContracts(client, { file, allowCustodianGrants: true });
        expect(result.deployed).toBe(expected);
      } finally {
        await anvil.stop();
      }
    }
  });
});

describe('deploy CLI', () => {
  it('deploys to an RPC URL, prints the addresses and writes them out', async () => {
    const anvil = await startAnvil();
    try {
      const dir = await tempDir();
      const out = path.join(dir, 'deployment.json');
      const printed = JSON.parse(
        await runDeployCli([
          '--rpc-url',
          anvil.rpcUrl,
          '--private-key',
          ANVIL_DEV_PRIVATE_KEYS[1],
          '--allow-custodian-grants',
          '--out',
          out,
        ]),
      );
      expect(printed.chainId).toBe(anvil.chainId);
      expect(printed.consentRegistry).toMatch(/^0x[0-9a-fA-F]{40}$/);
      expect(printed.provenanceAnchor).toMatch(/^0x[0-9a-fA-F]{40}$/);
      expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(printed);
    } finally {
      await anvil.stop();
    }
  });

  it('refuses to run without a key', async () => {
    await expect(runDeployCli(['--rpc-url', 'http://127.0.0.1:1'])).rejects.toThrow(/private-key/);
  });
});
