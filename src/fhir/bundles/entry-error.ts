import type { BundleEntry } from 'fhir/r4.js';
import { FhirError } from '../errors.js';

/**
 * The failure of one entry, re-issued so its OperationOutcome names the entry:
 * diagnostics start with `Bundle.entry[i] (METHOD url, fullUrl ...)` and
 * expressions point into that entry.
 */
export function entryError(index: number, entry: BundleEntry | undefined, err: FhirError) {
  const where = `Bundle.entry[${index}]`;
  const request = entry?.request;
  const label = [
    request && typeof request.method === 'string' && typeof request.url === 'string'
      ? `${request.method} ${request.url}`
      : undefined,
    typeof entry?.fullUrl === 'string' ? `fullUrl ${entry.fullUrl}` : undefined,
  ].filter(Boolean);
  const prefix = label.length > 0 ? `${where} (${label.join(', ')})` : where;
  return new FhirError(
    err.status,
    err.issues.map((i) => ({
      ...i,
      diagnostics: `${prefix}: ${i.diagnostics ?? i.details?.text ?? i.code}`,
      expression: [where, ...(i.expression ?? []).map((e) => inEntry(where, e))],
    })),
    { cause: err },
  );
}

/** `Patient.name[0]` -> `Bundle.entry[i].resource.name[0]`: issue paths start with the type. */
function inEntry(where: string, expression: string): string {
  const path = /^[A-Z]/.test(expression) ? expression.replace(/^[A-Za-z]+\.?/, '') : expression;
  return path ? `${where}.resource.${path}` : `${where}.resource`;
}
