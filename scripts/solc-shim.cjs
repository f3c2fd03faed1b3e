#!/usr/bin/env node
// Speaks just enough of the native solc command line for forge (`--version`,
// `--standard-json` on stdin/stdout) on top of the npm solc package (solc-js,
// WebAssembly), because neither npm nor Debian ships a native solc.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const solc = require('solc');

const args = process.argv.slice(2);

if (args.includes('--version') || args.includes('-v')) {
  // Native format; forge parses the `Version:` line. solc-js reports its platform as
  // Emscripten.clang, which is a valid semver build tag like the native Linux.g++.
  process.stdout.write(
    `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`,
  );
  process.exit(0);
}

if (!args.includes('--standard-json')) {
  process.stderr.write('solc-shim: only --version and --standard-json are supported\n');
  process.exit(1);
}

// Forge inlines every source, but answer file reads too, confined to the allowed roots,
// in case an import is left for the compiler to resolve.
const roots = [process.cwd()];
for (const flag of ['--base-path', '--include-path', '--allow-paths']) {
  args.forEach((arg, i) => {
    if (arg === flag && args[i + 1]) roots.push(...args[i + 1].split(','));
  });
}
const resolvedRoots = roots.map((root) => path.resolve(root));

function findImports(importPath) {
  for (const root of resolvedRoots) {
    const candidate = path.resolve(root, importPath);
    if (!resolvedRoots.some((r) => candidate.startsWith(r + path.sep))) continue;
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, 'utf8') };
  }
  return { error: `File not found: ${importPath}` };
}

const input = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImports }));
