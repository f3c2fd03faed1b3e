import { parseArgs } from 'node:util';
import type { Parameters } from 'fhir/r4.js';
import { Client } from 'fhir-kit-client';
import type { Hex } from 'viem';
import { createChainAnchors } from './chain-anchors.js';
import { checkVersion, type VersionResult, type VersionStatus } from './check-version.js';
import { listVersions, parseTarget } from './list-versions.js';
import { tokenSource, type VerifyAuth } from './token-source.js';

interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

export const VERIFY_USAGE = `fhir-ledger verify (Type/id/_history/vid | Type/id | [Type] --since T [--until T])
    [--url http://localhost:8080/fhir] (--token TOKEN | --client-id ID --key PRIVATE_JWK_FILE [--scope S])
    [--rpc-url URL] [--anchor-address 0x...] [--allow-pending] [--concurrency 8]
`;

/**
 * `fhir-ledger verify`: checks versions the way a compliance team would, trusting neither the
 * server's verdict nor its database: content from vread, hash and leaf recomputed here, only the
 * proof's siblings taken from $verify, the root looked up on the chain's RPC. Returns the exit
 * code: 0 when every version verified, 1 on any mismatch, error or (unless --allow-pending)
 * unanchored version, 2 for a usage error.
 */
export async function runVerifyCommand(
  argv: string[],
  stdout: Output,
  stderr: Output,
): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (err) {
    stderr.write(`fhir-ledger verify: ${(err as Error).message}\n\n${VERIFY_USAGE}`);
    return 2;
  }
  const client = new Client({ baseUrl: args.url });
  let authorize: () => Promise<void>;
  let chain: ReturnType<typeof createChainAnchors>;
  let where: string;
  try {
    const token = await tokenSource(args.url, args.auth);
    authorize = async () => {
      client.bearerToken = await token();
    };
    await authorize();
    const ledger = discovered((await client.request('$ledger')) as Parameters);
    const rpcUrl = args.rpcUrl ?? ledger.rpcUrl;
    const anchorAddress = args.anchorAddress ?? ledger.provenanceAnchor;
    if (!rpcUrl) throw new Error('the server names no chain RPC URL: pass --rpc-url');
    if (!anchorAddress)
      throw new Error('the server names no ProvenanceAnchor: pass --anchor-address');
    chain = createChainAnchors(rpcUrl, anchorAddress);
    const chainId = await chain.chainId();
    if (ledger.chainId !== undefined && ledger.chainId !== chainId) {
      stderr.write(
        `fhir-ledger verify: warning: the server says chain ${ledger.chainId}, ${rpcUrl} is chain ${chainId}\n`,
      );
    }
    where = `chain ${chainId} at ${rpcUrl}, ProvenanceAnchor ${anchorAddress}`;
  } catch (err) {
    stderr.write(`fhir-ledger verify: ${(err as Error).message}\n`);
    return 1;
  }

  let items: Awaited<ReturnType<typeof listVersions>>;
  try {
    items = await listVersions(client, args.target, authorize);
  } catch (err) {
    const status = (err as { response?: { status?: number } }).response?.status;
    stderr.write(
      `fhir-ledger verify: cannot list the versions: ${status ? `HTTP ${status}` : (err as Error).message}\n`,
    );
    return 1;
  }
  const progress = createBar(stderr, items.length);
  const results: VersionResult[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await checkVersion({ client, chain, authorize }, items[index]!);
      progress.tick();
      const r = results[index]!;
      if (r.status !== 'verified' && !(r.status === 'pending' && args.allowPending)) {
        progress.interrupt(() =>
          stdout.write(`${r.status.toUpperCase()} ${r.ref}: ${r.message}\n`),
        );
      }
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, lane));
  progress.finish();

  const counts: Record<VersionStatus, number> = { verified: 0, mismatch: 0, pending: 0, error: 0 };
  for (const r of results) counts[r.status]++;
  stdout.write(
    `Verified against ${where}\n` +
      `Versions: ${results.length}: ${counts.verified} verified, ${counts.mismatch} mismatch, ` +
      `${counts.pending} pending, ${counts.error} errors\n`,
  );
  if (results.length === 1 && counts.verified === 1) {
    const r = results[0]!;
    stdout.write(
      `${r.ref} anchored in root ${r.root} at block ${r.blockNumber} (${r.anchoredAt?.toISOString()})\n`,
    );
  }
  const failed = counts.mismatch + counts.error + (args.allowPending ? 0 : counts.pending);
  return failed === 0 && results.length > 0 ? 0 : 1;
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string', default: 'http://localhost:8080/fhir' },
      token: { type: 'string' },
      'client-id': { type: 'string' },
      key: { type: 'string' },
      scope: { type: 'string', default: 'system/*.rs' },
      since: { type: 'string' },
      until: { type: 'string' },
      'rpc-url': { type: 'string' },
      'anchor-address': { type: 'string' },
      'allow-pending': { type: 'boolean', default: false },
      concurrency: { type: 'string', default: '8' },
    },
  });
  const auth: VerifyAuth | undefined = values.token
    ? { token: values.token }
    : values['client-id'] && values.key
      ? { clientId: values['client-id'], keyFile: values.key, scope: values.scope }
      : undefined;
  if (!auth) {
    throw new Error(
      'the server needs an access token: --token TOKEN, or --client-id ID --key PRIVATE_JWK_FILE (SMART backend services)',
    );
  }
  for (const name of ['since', 'until'] as const) {
    const value = values[name];
    if (
      value !== undefined &&
      (!/T.*(Z|[+-]\d{2}:\d{2})$/.test(value) || Number.isNaN(Date.parse(value)))
    ) {
      throw new Error(`--${name} must be an instant with a time zone, e.g. 2024-01-31T10:00:00Z`);
    }
  }
  if (positionals.length > 1) throw new Error('name one version, resource or type');
  const target = parseTarget(positionals[0], values.since, values.until);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new Error(`--concurrency must be an integer from 1 to 64; got "${values.concurrency}"`);
  }
  const anchorAddress = values['anchor-address'];
  if (anchorAddress !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(anchorAddress)) {
    throw new Error('--anchor-address must be a 0x-prefixed 20-byte hex address');
  }
  for (const name of ['url', 'rpc-url'] as const) {
    const value = values[name];
    if (value !== undefined && !URL.canParse(value))
      throw new Error(`--${name} is not a URL: "${value}"`);
  }
  return {
    url: values.url.replace(/\/+$/, ''),
    auth,
    target,
    rpcUrl: values['rpc-url'],
    anchorAddress: anchorAddress as Hex | undefined,
    allowPending: values['allow-pending'],
    concurrency,
  };
}

/** What `$ledger` announces; each value may be overridden on the command line. */
function discovered(p: Parameters) {
  const find = (name: string) => p.parameter?.find((x) => x.name === name);
  return {
    chainId: find('chainId')?.valueInteger,
    rpcUrl: find('rpcUrl')?.valueUrl,
    provenanceAnchor: find('provenanceAnchor')?.valueString as Hex | undefined,
  };
}

/** A redrawn bar on a terminal; nothing when the output is a file or pipe (the summary says it). */
function createBar(out: Output, total: number) {
  let done = 0;
  const draw = () => {
    const width = 30;
    const filled = total ? Math.round((done / total) * width) : width;
    out.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} versions\x1b[K`,
    );
  };
  return {
    tick() {
      done++;
      if (out.isTTY) draw();
    },
    /** Prints a line without tearing the bar. */
    interrupt(print: () => void) {
      if (out.isTTY) out.write('\r\x1b[K');
      print();
      if (out.isTTY) draw();
    },
    finish() {
      if (out.isTTY) out.write('\n');
    },
  };
}
