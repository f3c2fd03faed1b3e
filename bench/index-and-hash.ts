/**
 * CPU per Synthea resource of the two per-version costs of a write outside validation, old
 * way against new in one process: search index rows through the FHIRPath engine against the
 * compiled accessors, and the content hash with a fresh UTF-8 buffer per version against the
 * reused one. Both ways must give the same rows and hashes; the bench stops if they do not.
 *
 *   npm run bench:index [-- --rounds 5 --dir test/fixtures/synthea]
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import type { Bundle, Resource } from 'fhir/r4.js';
import { createKeccak } from 'hash-wasm';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { indexRows } from '../src/fhir/search/index-rows.js';
import { createParamResolver } from '../src/fhir/search/search-parameters.js';
import { listBundleFiles } from '../src/import/import-bundles.js';
import { contentHash, toHex } from '../src/provenance/content-hash.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    dir: { type: 'string', default: 'test/fixtures/synthea' },
  },
});
const rounds = Number(args.rounds);

const params = createParamResolver(loadDefinitions());
const resources: Resource[] = [];
for (const file of await listBundleFiles([args.dir])) {
  const bundle = JSON.parse(await readFile(file, 'utf8')) as Bundle;
  for (const entry of bundle.entry ?? []) {
    if (!entry.resource) continue;
    // As stored: a server id and meta, which the hash covers.
    const meta = { versionId: '1', lastUpdated: new Date().toISOString() };
    resources.push({ ...entry.resource, id: randomUUID(), meta });
  }
}

// The content hash as it was: TextEncoder.encode allocates a new buffer per version.
const canonicalize = createRequire(import.meta.url)('canonicalize') as (input: unknown) => string;
const hasher = await createKeccak(256);
const encoder = new TextEncoder();
function previousContentHash(resource: Resource): Uint8Array {
  hasher.init();
  hasher.update(encoder.encode(canonicalize(resource)));
  return hasher.digest('binary');
}

for (const resource of resources) {
  if (!isDeepStrictEqual(indexRows(resource, params), indexRows(resource, params, 'engine'))) {
    throw new Error(`index rows differ on a ${resource.resourceType}`);
  }
  if (toHex(contentHash(resource)) !== toHex(previousContentHash(resource))) {
    throw new Error(`content hashes differ on a ${resource.resourceType}`);
  }
}

/** CPU microseconds per resource of one pass over every resource. */
function cpuPerResource(work: (resource: Resource) => unknown): number {
  const start = process.cpuUsage();
  for (const resource of resources) work(resource);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / resources.length;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(
  `\n${resources.length} Synthea resources, median of ${rounds} rounds, CPU per resource`,
);
const pairs: Array<[string, (r: Resource) => unknown, (r: Resource) => unknown]> = [
  ['index rows', (r) => indexRows(r, params, 'engine'), (r) => indexRows(r, params)],
  ['content hash', previousContentHash, contentHash],
];
for (const [name, before, after] of pairs) {
  const old: number[] = [];
  const now: number[] = [];
  // Rounds alternate, so that both ways see the same load from the rest of the machine.
  for (let round = 0; round < rounds; round++) {
    old.push(cpuPerResource(before));
    now.push(cpuPerResource(after));
  }
  const [a, b] = [median(old), median(now)];
  console.log(
    `${name}: ${a.toFixed(1)} µs before, ${b.toFixed(1)} µs now (ratio ${(b / a).toFixed(2)})`,
  );
}
