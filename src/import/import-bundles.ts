import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Bundle, OperationOutcome } from 'fhir/r4.js';

export interface ImportParameters {
  /** FHIR base URL, e.g. http://localhost:8080/fhir */
  url: string;
  /** The bearer access token for each request (refreshed by the caller when it expires). */
  accessToken: () => Promise<string>;
  /** Bundles posted at the same time. */
  concurrency: number;
  /** Called after each bundle. */
  onBundle?: (result: BundleResult, done: number, total: number) => void;
}

export interface BundleResult {
  file: string;
  ok: boolean;
  /** HTTP status, or undefined when the server could not be reached. */
  status: number | undefined;
  /** Entries answered 201 Created. */
  created: number;
  /** Entries in the transaction-response. */
  entries: number;
  /** Why it failed: the OperationOutcome diagnostics, or the transport error. */
  diagnostics: string[];
}

export interface ImportSummary {
  bundles: number;
  ok: number;
  failed: number;
  created: number;
  entries: number;
  seconds: number;
  failures: BundleResult[];
}

/** The `.json` files named, and those inside named folders (recursively), sorted. */
export async function listBundleFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const given of paths) {
    if ((await stat(given)).isDirectory()) {
      const names = await readdir(given, { recursive: true });
      for (const name of names) if (name.endsWith('.json')) files.push(path.join(given, name));
    } else {
      files.push(given);
    }
  }
  return [...new Set(files)].sort();
}

/**
 * Posts each file as it is to `POST [base]`; a bundle fails as a whole (the server
 * answers a transaction all or nothing), the others go on.
 *
 * @example
 * const summary = await importBundles(['a.json'], { url: 'http://localhost:8080/fhir', accessToken: async () => token, concurrency: 4 });
 */
export async function importBundles(
  files: string[],
  { url, accessToken, concurrency, onBundle }: ImportParameters,
): Promise<ImportSummary> {
  const started = performance.now();
  const results: BundleResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const file = files[next++]!;
      const result = await postBundle(file, url, await accessToken());
      results.push(result);
      onBundle?.(result, results.length, files.length);
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(concurrency, files.length)) }, worker),
  );
  const ok = results.filter((r) => r.ok);
  return {
    bundles: results.length,
    ok: ok.length,
    failed: results.length - ok.length,
    created: results.reduce((n, r) => n + r.created, 0),
    entries: results.reduce((n, r) => n + r.entries, 0),
    seconds: (performance.now() - started) / 1000,
    failures: results.filter((r) => !r.ok).sort((a, b) => a.file.localeCompare(b.file)),
  };
}

async function postBundle(file: string, url: string, token: string): Promise<BundleResult> {
  const result: BundleResult = {
    file,
    ok: false,
    status: undefined,
    created: 0,
    entries: 0,
    diagnostics: [],
  };
  try {
    const body = await readFile(file);
    const res = await fetch(url.replace(/\/+$/, ''), {
      method: 'POST',
      headers: {
        'content-type': 'application/fhir+json',
        accept: 'application/fhir+json',
        authorization: `Bearer ${token}`,
      },
      body,
    });
    result.status = res.status;
    const text = await res.text();
    const answer = text ? (JSON.parse(text) as Bundle | OperationOutcome) : undefined;
    if (res.ok && answer?.resourceType === 'Bundle') {
      const entries = answer.entry ?? [];
      result.entries = entries.length;
      result.created = entries.filter((e) => e.response?.status.startsWith('201')).length;
      const failed = entries.filter((e) => !/^2\d\d/.test(e.response?.status ?? ''));
      result.ok = failed.length === 0;
      result.diagnostics = failed.flatMap((e) => outcomeText(e.response?.outcome));
    } else {
      result.diagnostics =
        answer?.resourceType === 'OperationOutcome'
          ? outcomeText(answer)
          : [`HTTP ${res.status} ${text.slice(0, 200)}`];
    }
  } catch (err) {
    result.diagnostics = [err instanceof Error ? errorText(err) : String(err)];
  }
  return result;
}

function outcomeText(outcome: unknown): string[] {
  const issues = (outcome as OperationOutcome | undefined)?.issue ?? [];
  return issues.map((i) => i.diagnostics ?? i.details?.text ?? i.code);
}

function errorText(err: Error): string {
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
