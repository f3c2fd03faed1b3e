import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Bundle, OperationOutcomeIssue, Resource } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { brokenVariants } from '../../../test/support/broken-variants.js';
import { loadDefinitions } from '../definitions.js';
import { fastBaseIssues } from './base-validator.js';
import { baseIssues, medplumBaseIssues } from './validate-resource.js';

const definitions = loadDefinitions();

const SYNTHEA = new URL('../../../test/fixtures/synthea/', import.meta.url);
const synthea = readdirSync(SYNTHEA)
  .filter((f) => f.endsWith('.json'))
  .flatMap((f) => (JSON.parse(readFileSync(new URL(f, SYNTHEA), 'utf8')) as Bundle).entry ?? [])
  .map((e) => e.resource as Resource);

const EXAMPLES = path.dirname(
  createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'),
);
// The examples of the specification, less its definition bundles (tens of MB each).
const examples = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.json') && f !== 'package.json' && !f.startsWith('.'))
  .map((f) => readFileSync(path.join(EXAMPLES, f), 'utf8'))
  .filter((text) => text.length < 100_000)
  .map((text) => JSON.parse(text) as Resource)
  .filter((r) => typeof r.resourceType === 'string');

type Json = Record<string, unknown>;

/** What a client reads of an issue; messages too, so OperationOutcomes stay the same. */
const seen = (issues: OperationOutcomeIssue[]) =>
  issues.map((i) => `${i.severity} ${i.code} ${i.expression?.[0]} ${i.diagnostics}`).sort();
const ok = (issues: OperationOutcomeIssue[]) =>
  !issues.some((i) => i.severity === 'error' || i.severity === 'fatal');

/** The issues a client would read, or the error a validator threw (a 500). */
function outcome(validate: () => OperationOutcomeIssue[]): string {
  try {
    const issues = validate();
    return `${ok(issues) ? 'ok' : 'rejected'}\n${seen(issues).join('\n')}`;
  } catch (err) {
    return `threw ${(err as Error).message}`;
  }
}

/**
 * Runs the old path (medplum's validator plus strictChecks) and the new one on each
 * resource; returns the differences, how many the fast walk answered without the old
 * path, and how many the old path rejects. The new path is the fast walk's answer,
 * else the old path's (baseIssues), so only the fast walk's answers can differ.
 */
function compare(resources: { title: string; resource: Json }[]) {
  const differences: string[] = [];
  let decided = 0;
  let rejected = 0;
  for (const { title, resource } of resources) {
    const old = outcome(() => medplumBaseIssues(clone(resource), definitions));
    let answered = false;
    const now = outcome(() => {
      const fast = fastBaseIssues(clone(resource), definitions);
      answered = fast !== undefined;
      return fast ?? baseIssues(clone(resource), definitions);
    });
    if (answered) decided++;
    if (!old.startsWith('ok')) rejected++;
    if (old !== now) differences.push(`${title}:\nold ${old}\nnew ${now}`);
  }
  return { differences, decided, rejected };
}

const clone = (resource: Json) => structuredClone(resource) as unknown as Resource;

const titled = (rs: Resource[]) =>
  rs.map((r) => ({ title: `${r.resourceType}/${r.id}`, resource: r as unknown as Json }));

/** One resource of each Synthea type and the smallest example of each type, to break. */
function sample(): Resource[] {
  const byType = new Map<string, Resource>();
  for (const r of synthea) if (!byType.has(r.resourceType)) byType.set(r.resourceType, r);
  const smallest = new Map<string, { size: number; resource: Resource }>();
  for (const r of examples) {
    const size = JSON.stringify(r).length;
    if (size < (smallest.get(r.resourceType)?.size ?? Infinity)) {
      smallest.set(r.resourceType, { size, resource: r });
    }
  }
  return [...byType.values(), ...[...smallest.values()].map((s) => s.resource)];
}

describe('fast base validation gives the same issues as medplum plus strictChecks', () => {
  it('on every Synthea resource, and answers each of them without the old path', () => {
    const { differences, decided } = compare(titled(synthea));
    expect(differences).toEqual([]);
    expect(decided).toBe(synthea.length);
  });

  const parts = [0, 1, 2, 3];
  it.each(parts)('on every official R4 example (part %i)', (part) => {
    const some = examples.filter((_, i) => i % parts.length === part);
    const { differences, decided } = compare(titled(some));
    expect(differences).toEqual([]);
    expect(decided).toBeGreaterThan(some.length * 0.9);
  });

  const resources = sample();
  it.each(parts)('on systematically broken variants of each type (part %i)', (part) => {
    const variants = resources
      .filter((_, i) => i % parts.length === part)
      .flatMap((r, i) =>
        brokenVariants(r as unknown as Json, i + 1, 1).map((v) => ({
          title: `${r.resourceType}/${r.id} ${v.title}`,
          resource: v.resource,
        })),
      );
    const { differences, rejected } = compare(variants);
    expect(differences).toEqual([]);
    // The variants do break rules: most are rejected.
    expect(rejected).toBeGreaterThan(variants.length / 2);
  });
});
