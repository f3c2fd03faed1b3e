/**
 * Validation benchmark: CPU time per Synthea resource of the base validation on the
 * write path (baseIssues: the fast single walk, medplum's validator plus strictChecks
 * where it cannot answer) against the old path alone (medplum plus strictChecks), in
 * one process, alternating rounds so that both see the same machine. The ratio is the
 * figure to compare across machines.
 *
 *   npm run bench:validation [-- --rounds 5 --dir test/fixtures/synthea]
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Bundle, Resource } from 'fhir/r4.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { baseIssues, medplumBaseIssues } from '../src/fhir/validation/validate-resource.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    dir: { type: 'string', default: 'test/fixtures/synthea' },
  },
});
const rounds = Number(args.rounds);

const definitions = loadDefinitions();
const resources = readdirSync(args.dir)
  .filter((f) => f.endsWith('.json'))
  .flatMap((f) => {
    const bundle = JSON.parse(readFileSync(path.join(args.dir, f), 'utf8')) as Bundle;
    return (bundle.entry ?? []).map((e) => e.resource as Resource);
  });

/** CPU milliseconds per resource of one pass over every resource. */
function cpuPerResource(validate: (r: Resource) => unknown): number {
  const start = process.cpuUsage();
  for (const resource of resources) validate(resource);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / resources.length;
}

const oldPath = (r: Resource) => medplumBaseIssues(r, definitions);
const newPath = (r: Resource) => baseIssues(r, definitions);
// Warm-up: type plans, FHIRPath parses, JIT.
cpuPerResource(oldPath);
cpuPerResource(newPath);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const olds: number[] = [];
const news: number[] = [];
console.log(`\nBase validation of ${resources.length} Synthea resources, ${rounds} rounds`);
for (let round = 1; round <= rounds; round++) {
  olds.push(cpuPerResource(oldPath));
  news.push(cpuPerResource(newPath));
  console.log(
    `round ${round}: CPU per resource: medplum + strictChecks ${olds.at(-1)!.toFixed(3)} ms, fast path ${news.at(-1)!.toFixed(3)} ms`,
  );
}
console.log(
  `median CPU per resource: medplum + strictChecks ${median(olds).toFixed(3)} ms, fast path ${median(news).toFixed(3)} ms; ratio ${(median(olds) / median(news)).toFixed(1)}x`,
);
