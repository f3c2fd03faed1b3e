#!/usr/bin/env node
// Deploys the contracts to any EVM JSON-RPC endpoint and prints the addresses as JSON.
//   node dist/ledger/deploy-cli.js --rpc-url URL (--private-key 0x.. | --private-key-file F)
//     [--allow-custodian-grants] [--admin 0x..] [--operator 0x..] [--confirmations N] [--out F]
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Address, type Hex, isAddress, isHex } from 'viem';
import { deployContracts } from './deploy-contracts.js';
import { formatDeployment, writeDeployment } from './deployment-file.js';
import { createLedgerClient } from './ledger-client.js';

export async function runDeployCli(argv: string[]): Promise<string> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'rpc-url': { type: 'string' },
      'private-key': { type: 'string' },
      'private-key-file': { type: 'string' },
      'allow-custodian-grants': { type: 'boolean', default: false },
      admin: { type: 'string' },
      operator: { type: 'string' },
      confirmations: { type: 'string', default: '1' },
      out: { type: 'string' },
    },
  });
  const rpcUrl = values['rpc-url'];
  if (!rpcUrl) throw new Error('--rpc-url is required');
  const privateKey = values['private-key-file']
    ? (await readFile(values['private-key-file'], 'utf8')).trim()
    : values['private-key'];
  if (!privateKey || !isHex(privateKey)) {
    throw new Error('--private-key or --private-key-file (0x-prefixed hex) is required');
  }
  const client = await createLedgerClient({ rpcUrl, privateKey: privateKey as Hex });
  const deployment = await deployContracts(client, {
    allowCustodianGrants: values['allow-custodian-grants'],
    admin: address(values.admin, '--admin'),
    operator: address(values.operator, '--operator'),
    confirmations: Number(values.confirmations),
  });
  if (values.out) await writeDeployment(values.out, deployment);
  return formatDeployment(deployment);
}

function address(value: string | undefined, flag: string): Address | undefined {
  if (value === undefined) return undefined;
  if (!isAddress(value)) throw new Error(`${flag} must be an address`);
  return value;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runDeployCli(process.argv.slice(2)).then(
    (output) => console.log(output),
    (error: Error & { shortMessage?: string }) => {
      console.error(error.shortMessage ?? error.message);
      process.exitCode = 1;
    },
  );
}
