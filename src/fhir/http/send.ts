import type { Request, Response } from 'express';
import type { Resource } from 'fhir/r4.js';
import { issue, outcome } from '../errors.js';
import type { FhirResponse } from '../interactions/types.js';
import { FHIR_JSON } from './negotiate.js';

/** The one place a FHIR result becomes an HTTP response. */
export function send(req: Request, res: Response, result: FhirResponse): void {
  res.status(result.status);
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
  const body = result.honourPrefer ? preferredBody(req, result) : result.resource;
  if (body === undefined || result.status === 204 || result.status === 304) {
    res.end();
    return;
  }
  writeJson(req, res, body, body === result.resource ? result.serialized : undefined);
}

export function writeJson(req: Request, res: Response, body: Resource, serialized?: string): void {
  const pretty = req.query._pretty === 'true';
  res.setHeader('Content-Type', `${FHIR_JSON}; charset=utf-8`);
  res.end(pretty ? JSON.stringify(body, null, 2) : (serialized ?? JSON.stringify(body)));
}

/** `Prefer: return=minimal | representation | OperationOutcome` (default representation). */
function preferredBody(req: Request, result: FhirResponse): Resource | undefined {
  const prefer = /return=(minimal|representation|OperationOutcome)/i.exec(
    req.get('prefer') ?? '',
  )?.[1];
  switch (prefer?.toLowerCase()) {
    case 'minimal':
      return undefined;
    case 'operationoutcome':
      return outcome([
        issue(
          'informational',
          `${result.status === 201 ? 'Created' : 'Stored'} ${result.headers?.Location ?? ''}`.trim(),
          undefined,
          'information',
        ),
      ]);
    default:
      return result.resource;
  }
}
