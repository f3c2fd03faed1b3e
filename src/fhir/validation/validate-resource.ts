import { validateResource as medplumValidate, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from 'fhir/r4.js';
import type { Definitions } from '../definitions.js';
import { issue } from '../errors.js';
import { fastBaseIssues } from './base-validator.js';
import { strictChecks } from './strict-checks.js';

export interface ValidationResult {
  /** Every issue found, errors and warnings, each with its path. */
  issues: OperationOutcomeIssue[];
  ok: boolean;
}

/**
 * Validates a resource against the official R4 StructureDefinitions (through
 * @medplum/core) plus the base rules it leaves out, and against any profile given
 * or claimed in `meta.profile` that the server knows.
 */
export function validateResource(
  resource: Resource,
  definitions: Definitions,
  profile?: StructureDefinition,
): ValidationResult {
  const issues = baseIssues(resource, definitions);
  const profiles = new Set<StructureDefinition>(profile ? [profile] : []);
  for (const url of resource.meta?.profile ?? []) {
    const known = definitions.profiles.get(url.split('|')[0]!);
    if (known) profiles.add(known);
  }
  for (const p of profiles) {
    if (p.type !== resource.resourceType) {
      issues.push(
        issue('invalid', `Profile ${p.url} constrains ${p.type}, not ${resource.resourceType}`),
      );
      continue;
    }
    issues.push(...runMedplum(resource, p).filter((i) => !issues.some((j) => same(i, j))));
  }
  return { issues, ok: !issues.some((i) => i.severity === 'error' || i.severity === 'fatal') };
}

/**
 * The issues against the base R4 definitions: the fast single walk where it can give
 * the exact answer (most resources), else medplum's validator plus strictChecks.
 */
export function baseIssues(resource: Resource, definitions: Definitions): OperationOutcomeIssue[] {
  return fastBaseIssues(resource, definitions) ?? medplumBaseIssues(resource, definitions);
}

/** The reference answer: what the fast path must reproduce, issue for issue. */
export function medplumBaseIssues(
  resource: Resource,
  definitions: Definitions,
): OperationOutcomeIssue[] {
  return [...runMedplum(resource), ...strictChecks(resource, definitions)];
}

function runMedplum(resource: Resource, profile?: StructureDefinition): OperationOutcomeIssue[] {
  try {
    return medplumValidate(resource, profile ? { profile } : undefined).map(normalise);
  } catch (err) {
    if (err instanceof OperationOutcomeError) return (err.outcome.issue ?? []).map(normalise);
    // Shapes its typed crawl cannot read (a `_x` array beside a single value) make it
    // throw: still the client's input, so an issue (a 400), never a 500.
    return [issue('structure', `Resource could not be validated: ${(err as Error).message}`)];
  }
}

/** Medplum puts its message in details.text; clients read diagnostics too. */
function normalise(i: OperationOutcomeIssue): OperationOutcomeIssue {
  return { ...i, diagnostics: i.diagnostics ?? i.details?.text };
}

function same(a: OperationOutcomeIssue, b: OperationOutcomeIssue): boolean {
  return a.diagnostics === b.diagnostics && a.expression?.[0] === b.expression?.[0];
}
