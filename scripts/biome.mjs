#!/usr/bin/env node
// Runs the npm-installed native Biome binary and exits with its exit code.
// The project depends on the platform package (@biomejs/cli-linux-x64) directly:
// the @biomejs/biome meta-package lists optional packages for other platforms that
// the registry here does not serve, which breaks `npm ci`.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Path of the Biome binary of this platform. */
export function biomeBinary() {
  const require = createRequire(import.meta.url);
  const pkg = `@biomejs/cli-${process.platform}-${process.arch}`;
  return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'biome');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = spawnSync(biomeBinary(), process.argv.slice(2), {
    cwd: repoRoot,
    stdio: 'inherit',
  });
  if (result.error) throw result.error;
  process.exit(result.status ?? 1);
}
