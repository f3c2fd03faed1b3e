#!/usr/bin/env node
// The registry this project installs from lacks some other-platform builds that
// packages list as optionalDependencies (e.g. @msgpackr-extract/*-darwin-arm64).
// `npm install` then leaves them out of package-lock.json and `npm ci` refuses the
// lockfile as out of sync. This adds the lockfile entries a complete registry would
// have produced: optional, with os/cpu from the package name, so npm skips them on
// this platform and never fetches them. Run it after `npm install` changes the lock.
import { readFileSync, writeFileSync } from 'node:fs';

const LOCK = new URL('../package-lock.json', import.meta.url);
const OS = ['darwin', 'linux', 'win32', 'android', 'freebsd'];
const CPU = { arm64: 'arm64', x64: 'x64', arm: 'arm', ia32: 'ia32' };

const lock = JSON.parse(readFileSync(LOCK, 'utf8'));
const added = [];
for (const [where, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (lock.packages[key] || lock.packages[`${where}/${key}`]) continue;
    const parts = name.split('/').pop().split('-');
    const os = parts.find((p) => OS.includes(p));
    const cpu = parts.map((p) => CPU[p]).find(Boolean);
    if (!os || !cpu) continue; // not a platform build: a genuinely missing package, leave it to npm
    lock.packages[key] = { version, optional: true, os: [os], cpu: [cpu] };
    added.push(`${name}@${version}`);
  }
}
writeFileSync(LOCK, `${JSON.stringify(lock, null, 2)}\n`);
console.log(added.length ? `added ${added.join(', ')}` : 'lockfile complete');
