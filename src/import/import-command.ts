import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { fetchToken } from '../auth/backend-services-client.js';
import {
  type BundleResult,
  type ImportSummary,
  importBundles,
  listBundleFiles,
} from './import-bundles.js';
import { createProgress } from './progress.js';

interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

/**
 * `fhir-ledger import <files or folders> [--url ...] [--concurrency n]`: posts
 * every transaction Bundle, shows progress (a bar on a terminal, a line per
 * bundle otherwise) and prints a summary. Returns the exit code: 0 when every
 * bundle was stored, 1 when some failed, 2 for a usage error.
 */
export async function runImportCommand(
  argv: string[],
  stdout: Output,
  stderr: Output,
): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    stderr.write(`fhir-ledger import: ${(err as Error).message}\n`);
    return 2;
  }
  const { url, concurrency, paths, auth } = parsed;
  let files: string[];
  try {
    files = await listBundleFiles(paths);
  } catch (err) {
    stderr.write(`fhir-ledger import: ${(err as Error).message}\n`);
    return 2;
  }
  if (files.length === 0) {
    stderr.write('fhir-ledger import: no .json files found\n');
    return 2;
  }
  let accessToken: () => Promise<string>;
  try {
    accessToken = await tokenSource(url, auth);
  } catch (err) {
    stderr.write(`fhir-ledger import: no access token: ${(err as Error).message}\n`);
    return 1;
  }
  const progress = createProgress(stderr);
  const summary = await importBundles(files, {
    url,
    accessToken,
    concurrency,
    onBundle: (result, done, total) => progress.update(result, done, total),
  });
  progress.finish();
  stdout.write(formatSummary(summary));
  return summary.failed === 0 ? 0 : 1;
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string', default: 'http://localhost:8080/fhir' },
      concurrency: { type: 'string', default: '4' },
      token: { type: 'string' },
      'client-id': { type: 'string' },
      key: { type: 'string' },
    },
  });
  const auth = values.token
    ? { token: values.token }
    : values['client-id'] && values.key
      ? { clientId: values['client-id'], keyFile: values.key }
      : undefined;

  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new Error(`--concurrency must be an integer from 1 to 64; got "${values.concurrency}"`);
  }
  let url: URL;
  try {
    url = new URL(values.url);
  } catch {
    throw new Error(`--url is not a URL: "${values.url}"`);
  }
  if (positionals.length === 0) throw new Error('name at least one file or folder');
  if (!auth) {
    throw new Error(
      'the server needs an access token: --token TOKEN, or --client-id ID --key PRIVATE_JWK_FILE (SMART backend services)',
    );
  }
  return { url: url.toString().replace(/\/+$/, ''), concurrency, paths: positionals, auth };
}

export function formatSummary(s: ImportSummary): string {
  const rate = s.seconds > 0 ? Math.round(s.created / s.seconds) : 0;
  const lines = [
    `Bundles: ${s.bundles} (${s.ok} ok, ${s.failed} failed)`,
    `Resources created: ${s.created} in ${s.seconds.toFixed(1)} s (${rate} resources/s)`,
  ];
  if (s.failures.length > 0) {
    lines.push('Failures:');
    for (const f of s.failures) lines.push(...failureLines(f));
  }
  return `${lines.join('\n')}\n`;
}

function failureLines(f: BundleResult): string[] {
  const status = f.status === undefined ? 'not sent' : `HTTP ${f.status}`;
  return [`  ${f.file} (${status})`, ...f.diagnostics.map((d) => `    ${d}`)];
}

type ImportAuth = { token: string } | { clientId: string; keyFile: string };

/**
 * A fixed token, or the backend-services flow with the client's key, run again
 * shortly before each token expires so that long imports keep going.
 */
async function tokenSource(url: string, auth: ImportAuth): Promise<() => Promise<string>> {
  if ('token' in auth) return async () => auth.token;
  const privateKey = JSON.parse(await readFile(auth.keyFile, 'utf8')) as object;
  let current: Promise<{ token: string; renewAt: number }> | undefined;
  const fetchOne = async () => {
    const t = await fetchToken({
      fhirBaseUrl: url,
      clientId: auth.clientId,
      privateKey,
      scope: 'system/*.cruds',
    });
    return { token: t.accessToken, renewAt: Date.now() + (t.expiresIn * 1000) / 2 };
  };
  current = fetchOne();
  await current;
  return async () => {
    const c = await current!;
    if (Date.now() >= c.renewAt) current = fetchOne();
    return (await current!).token;
  };
}
