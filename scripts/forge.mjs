#!/usr/bin/env node
// Runs the npm-installed native forge and exits with its exit code. (The @foundry-rs/forge
// wrapper script exits 0 even when tests fail, so it is never used.)
//
//   node scripts/forge.mjs test [args]   forge test; with no args also checks .gas-snapshot
//   node scripts/forge.mjs snapshot      rewrites .gas-snapshot
//   node scripts/forge.mjs <anything>    passed through
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Fuzz and invariant gas figures move with the inputs the fuzzer picks, so the snapshot holds
// the deterministic tests only.
const SNAPSHOT_FILTER = ['--no-match-test', 'testFuzz|invariant'];

const PLATFORMS = { linux: 'linux', darwin: 'darwin', win32: 'win32' };
const ARCHS = { x64: 'amd64', arm64: 'arm64' };

/** Path of a Foundry tool (forge, anvil, cast) from its @foundry-rs/<tool>-<os>-<arch> package. */
export function foundryBinary(tool) {
  const pkg = `@foundry-rs/${tool}-${PLATFORMS[process.platform]}-${ARCHS[process.arch]}`;
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve(`${pkg}/package.json`));
  return path.join(dir, 'bin', process.platform === 'win32' ? `${tool}.exe` : tool);
}

/** Runs forge with inherited stdio and returns its exit code. */
export function forge(args, options = {}) {
  const result = spawnSync(foundryBinary('forge'), args, {
    cwd: repoRoot,
    stdio: 'inherit',
    ...options,
  });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function main(args) {
  if (args.length === 1 && args[0] === 'snapshot') return forge(['snapshot', ...SNAPSHOT_FILTER]);
  const status = forge(args);
  if (status !== 0 || args.length !== 1 || args[0] !== 'test') return status;
  const check = spawnSync(foundryBinary('forge'), ['snapshot', '--check', ...SNAPSHOT_FILTER], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (check.status === 0) return 0;
  // The tests already printed their results above; show only what differs.
  for (const line of check.stdout.split('\n')) if (line.startsWith('Diff in')) console.error(line);
  console.error('.gas-snapshot is out of date: run `node scripts/forge.mjs snapshot`');
  return check.status ?? 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
