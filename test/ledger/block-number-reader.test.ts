import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANVIL_DEV_PRIVATE_KEYS,
  type StartAnvilReturnType,
  startAnvil,
} from '../../src/ledger/anvil.js';
import { blockNumberReader } from '../../src/ledger/block-number-reader.js';
import { createLedgerClient } from '../../src/ledger/ledger-client.js';

let anvil: StartAnvilReturnType;
beforeAll(async () => {
  anvil = await startAnvil();
});
afterAll(async () => {
  await anvil?.stop();
});

async function rpc(method: string, params: unknown[] = []) {
  const res = await fetch(anvil.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return ((await res.json()) as { result: unknown }).result;
}

describe('blockNumberReader (the consent mirror head poll)', () => {
  it('reads the same head as viem, block after block', async () => {
    const read = blockNumberReader(anvil.rpcUrl)!;
    const client = await createLedgerClient({
      rpcUrl: anvil.rpcUrl,
      privateKey: ANVIL_DEV_PRIVATE_KEYS[0],
      chainId: anvil.chainId,
    });
    for (let i = 0; i < 3; i++) {
      expect(await read()).toBe(await client.getBlockNumber({ cacheTime: 0 }));
      await rpc('evm_mine');
    }
    const before = await read();
    await rpc('anvil_mine', ['0x10']);
    expect(await read()).toBe(before + 16n);
  });

  it('rejects when the chain does not answer, so the mirror counts as stale', async () => {
    const read = blockNumberReader('http://127.0.0.1:9/')!;
    await expect(read()).rejects.toThrow();
  });

  it('leaves other transports to viem', () => {
    expect(blockNumberReader('ws://127.0.0.1:8545')).toBeUndefined();
  });
});
