import path from 'node:path';
import type { BundleResult } from './import-bundles.js';

interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Progress {
  update(result: BundleResult, done: number, total: number): void;
  finish(): void;
}

/** A redrawn bar on a terminal; one line per bundle when the output is a file or pipe. */
export function createProgress(out: Output): Progress {
  const started = performance.now();
  let created = 0;
  let failed = 0;
  if (!out.isTTY) {
    return {
      update(result, done, total) {
        const state = result.ok ? 'ok    ' : 'FAILED';
        out.write(
          `[${done}/${total}] ${state} ${path.basename(result.file)} (${result.created} created)\n`,
        );
      },
      finish() {},
    };
  }
  return {
    update(result, done, total) {
      created += result.created;
      if (!result.ok) failed++;
      const width = 30;
      const filled = Math.round((done / total) * width);
      const rate = Math.round(created / ((performance.now() - started) / 1000));
      out.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} bundles, ` +
          `${created} resources, ${rate}/s${failed ? `, ${failed} failed` : ''}\x1b[K`,
      );
    },
    finish() {
      out.write('\n');
    },
  };
}
