import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { AnvilStartError } from './errors.js';

export interface StartAnvilParameters {
  /** TCP port on 127.0.0.1; a free one is picked when omitted. */
  port?: number;
  /**
   * Chain state file: loaded at start when it exists, written when anvil stops (and every
   * `stateIntervalSeconds`), so a chain survives restarts.
   */
  stateFile?: string;
  /** Also dump the state this often, so a crash loses at most this much. */
  stateIntervalSeconds?: number;
  /** Seconds between blocks; omitted = a block per transaction (automine). */
  blockTime?: number;
  /** Chain id; anvil's default is 31337. */
  chainId?: number;
  /** How long to wait for the RPC to answer. Default 15 s. */
  startTimeoutMs?: number;
  /** Receives every line anvil prints; by default output is kept only for error messages. */
  onLog?: (line: string) => void;
  /** Path to the anvil binary; default: the one in the npm package @foundry-rs/anvil-<os>-<arch>. */
  binary?: string;
}

export interface StartAnvilReturnType {
  rpcUrl: string;
  port: number;
  chainId: number;
  /** Stops anvil (SIGTERM, so it writes its state file) and waits for it to exit. */
  stop: () => Promise<void>;
}

/** Anvil's well-known development keys (mnemonic "test test ... junk"); never use them on a real chain. */
export const ANVIL_DEV_PRIVATE_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
] as const;

const LOG_TAIL_LINES = 40;
const PLATFORMS: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'linux',
  darwin: 'darwin',
  win32: 'win32',
};
const ARCHS: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

/**
 * Starts the npm-installed anvil on 127.0.0.1 and resolves once it answers `eth_chainId`.
 * The child never keeps Node alive and is killed when the process exits.
 *
 * @example
 * const anvil = await startAnvil({ stateFile: 'data/chain.json' });
 * // ... use anvil.rpcUrl
 * await anvil.stop();
 */
export async function startAnvil(params: StartAnvilParameters = {}): Promise<StartAnvilReturnType> {
  // anvil neither creates the state file's folder nor says so when it cannot write there.
  if (params.stateFile) await mkdir(path.dirname(params.stateFile), { recursive: true });
  // A free port found by binding can be taken before anvil binds it; try a few times.
  const attempts = params.port === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = params.port ?? (await findFreePort());
    try {
      return await startOnPort(port, params);
    } catch (error) {
      if (attempt >= attempts || !(error instanceof AnvilStartError)) throw error;
      if (!/address already in use|os error 98/i.test(error.message)) throw error;
    }
  }
}

async function startOnPort(
  port: number,
  params: StartAnvilParameters,
): Promise<StartAnvilReturnType> {
  const args = ['--host', '127.0.0.1', '--port', String(port)];
  if (params.stateFile) args.push('--state', params.stateFile);
  if (params.stateFile && params.stateIntervalSeconds) {
    args.push('--state-interval', String(params.stateIntervalSeconds));
  }
  if (params.blockTime !== undefined) args.push('--block-time', String(params.blockTime));
  if (params.chainId !== undefined) args.push('--chain-id', String(params.chainId));

  const child = spawn(params.binary ?? anvilBinary(), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const onLine = (line: string) => {
    tail.push(line);
    if (tail.length > LOG_TAIL_LINES) tail.shift();
    params.onLog?.(line);
  };
  forwardLines(child, onLine);

  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  // SIGTERM, not SIGKILL: anvil outlives us just long enough to write its state file.
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  child.unref();

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  const rpcUrl = `http://127.0.0.1:${port}`;
  const spawnFailed = new Promise<never>((_, reject) => {
    child.once('error', (cause) =>
      reject(new AnvilStartError('anvil could not be started', { cause })),
    );
    exited.then((code) =>
      reject(
        new AnvilStartError(`anvil exited with code ${code} before answering`, {
          details: tail.join('\n'),
        }),
      ),
    );
  });
  // Settles after success too (when anvil stops); only the race below may observe it.
  spawnFailed.catch(() => {});
  try {
    const chainId = await Promise.race([
      waitForRpc(rpcUrl, params.startTimeoutMs ?? 15_000),
      spawnFailed,
    ]);
    return { rpcUrl, port, chainId, stop };
  } catch (error) {
    await stop();
    if (error instanceof AnvilStartError) throw error;
    throw new AnvilStartError(`anvil did not answer on ${rpcUrl}`, {
      details: tail.join('\n'),
      cause: error,
    });
  }
}

/** Path of the anvil binary shipped in the npm package for this platform. */
export function anvilBinary(): string {
  const pkg = `@foundry-rs/anvil-${PLATFORMS[process.platform]}-${ARCHS[process.arch]}`;
  try {
    const dir = path.dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
    return path.join(dir, 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
  } catch (cause) {
    throw new AnvilStartError(`the npm package ${pkg} is not installed`, { cause });
  }
}

function forwardLines(child: ChildProcess, onLine: (line: string) => void) {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    });
    // Reading must never keep the event loop alive on its own.
    (stream as unknown as { unref?: () => void }).unref?.();
  }
}

async function waitForRpc(rpcUrl: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      });
      const body = (await response.json()) as { result?: string };
      if (body.result) return Number(body.result);
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new AnvilStartError(`anvil did not answer within ${timeoutMs} ms`, { cause: lastError });
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new AnvilStartError('could not find a free port'));
      });
    });
  });
}
