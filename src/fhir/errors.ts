import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4.js';

export type IssueCode = OperationOutcomeIssue['code'];

/** A failure that becomes an OperationOutcome with an HTTP status, in one place (the HTTP adapter). */
export class FhirError extends Error {
  override name = 'FhirError';
  constructor(
    readonly status: number,
    readonly issues: OperationOutcomeIssue[],
    options?: { cause?: unknown },
  ) {
    super(issues.map((i) => i.diagnostics ?? i.details?.text ?? i.code).join('; '), options);
  }

  get outcome(): OperationOutcome {
    return { resourceType: 'OperationOutcome', issue: this.issues };
  }
}

export function issue(
  code: IssueCode,
  diagnostics: string,
  expression?: string,
  severity: OperationOutcomeIssue['severity'] = 'error',
): OperationOutcomeIssue {
  return { severity, code, diagnostics, ...(expression ? { expression: [expression] } : {}) };
}

export const badRequest = (message: string, expression?: string) =>
  new FhirError(400, [issue('invalid', message, expression)]);
export const notFound = (message: string) => new FhirError(404, [issue('not-found', message)]);
export const gone = (message: string) => new FhirError(410, [issue('deleted', message)]);
export const conflict = (message: string) => new FhirError(409, [issue('conflict', message)]);
export const preconditionFailed = (message: string) =>
  new FhirError(412, [issue('conflict', message)]);
export const notSupported = (status: number, message: string) =>
  new FhirError(status, [issue('not-supported', message)]);
export const unprocessable = (issues: OperationOutcomeIssue[]) => new FhirError(422, issues);
export const invalid = (issues: OperationOutcomeIssue[]) => new FhirError(400, issues);

export function outcome(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}
