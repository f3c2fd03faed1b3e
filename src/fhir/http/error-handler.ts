import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../../logger.js';
import { FhirError, issue, outcome } from '../errors.js';
import { writeJson } from './send.js';

/** Express body-parser failures are client mistakes; each gets its status. */
const BODY_ERRORS: Record<string, [number, string]> = {
  'entity.parse.failed': [400, 'Request body is not valid JSON'],
  'entity.too.large': [413, 'Request body is larger than the server accepts'],
  'encoding.unsupported': [415, 'Unsupported content encoding'],
  'charset.unsupported': [415, 'Unsupported charset; use utf-8'],
  'request.aborted': [400, 'Request was aborted'],
  'entity.verify.failed': [400, 'Request body could not be verified'],
};

/** Normalises every failure into an OperationOutcome, once. */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let status = 500;
    let body = outcome([issue('exception', 'Internal server error')]);
    if (err instanceof FhirError) {
      status = err.status;
      body = err.outcome;
    } else if (isBodyError(err)) {
      const known = BODY_ERRORS[err.type];
      status = known?.[0] ?? (err.status >= 400 && err.status < 500 ? err.status : 400);
      body = outcome([
        issue(status === 413 ? 'too-costly' : 'structure', known?.[1] ?? 'Invalid request body'),
      ]);
    } else {
      logger.error({ err, requestId: res.locals.requestId }, 'unhandled error');
    }
    if (res.headersSent) return;
    res.status(status);
    writeJson(req, res, body);
  };
}

function isBodyError(err: unknown): err is { type: string; status: number } {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { type?: unknown }).type === 'string' &&
    typeof (err as { status?: unknown }).status === 'number'
  );
}
