import type { NextFunction, Request, Response } from 'express';
import { FhirError, issue } from '../fhir/errors.js';
import { type VerifyContext, verifyAccessToken } from './access-token.js';
import { JwtError } from './jwt.js';

/** Paths under the FHIR base that anyone may call (the rest needs a token). */
const PUBLIC = new Set(['/metadata', '/.well-known/smart-configuration']);

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/;

/**
 * Express middleware for the FHIR routes: a Bearer access token becomes the
 * request's Principal (`res.locals.principal`); no token or a bad one is a 401
 * OperationOutcome with `WWW-Authenticate` (RFC 6750). Only metadata and the
 * SMART configuration pass without one.
 */
export function authenticate(
  context: Omit<VerifyContext, 'baseUrl' | 'now'>,
  baseUrlOf: (req: Request) => string,
) {
  return async (req: Request, res: Response, next: NextFunction) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && PUBLIC.has(req.path)) return next();
    const refuse = (error: string | undefined, description: string) => {
      res.setHeader(
        'WWW-Authenticate',
        `Bearer realm="fhir"${error ? `, error="${error}", error_description="${description}"` : ''}`,
      );
      next(new FhirError(401, [issue('login', description)]));
    };
    const header = req.get('authorization');
    if (!header)
      return refuse(undefined, 'An access token is required (Authorization: Bearer ...)');
    const m = BEARER.exec(header.trim());
    if (!m) return refuse('invalid_request', 'Authorization must be "Bearer <access token>"');
    try {
      res.locals.principal = await verifyAccessToken(m[1]!, {
        ...context,
        baseUrl: baseUrlOf(req),
      });
    } catch (err) {
      if (err instanceof JwtError)
        return refuse('invalid_token', `Invalid access token: ${err.message}`);
      return refuse(
        'invalid_token',
        'The access token could not be verified (issuer keys unavailable)',
      );
    }
    next();
  };
}
