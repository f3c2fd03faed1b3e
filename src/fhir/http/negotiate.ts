import type { NextFunction, Request, Response } from 'express';
import { notSupported } from '../errors.js';

export const FHIR_JSON = 'application/fhir+json';
export const FORM = 'application/x-www-form-urlencoded';
/** RFC 6902 JSON Patch, which PATCH takes besides a FHIRPath Patch in FHIR JSON. */
export const JSON_PATCH = 'application/json-patch+json';
export const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];
const FORMAT_ALIASES = new Set(['json', ...JSON_TYPES]);

/**
 * Format negotiation: `_format` overrides Accept; only JSON is served (406
 * otherwise); request bodies must be FHIR JSON or JSON (415 otherwise).
 */
export function negotiate(req: Request, _res: Response, next: NextFunction): void {
  next(formatError(req));
}

function formatError(req: Request): Error | undefined {
  const format = req.query._format;
  if (format !== undefined) {
    const value = String(Array.isArray(format) ? format[0] : format)
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (!FORMAT_ALIASES.has(value)) {
      return notSupported(406, `_format "${value}" is not supported; this server speaks JSON only`);
    }
  } else if (req.headers.accept && !acceptsJson(req.headers.accept)) {
    return notSupported(406, `Accept "${req.headers.accept}" is not supported; use ${FHIR_JSON}`);
  }
  const hasBody =
    Number(req.headers['content-length'] ?? 0) > 0 ||
    req.headers['transfer-encoding'] !== undefined;
  const searchForm = req.method === 'POST' && req.path.endsWith('/_search') && req.is(FORM);
  const patch = req.method === 'PATCH';
  if (hasBody && !searchForm && !(patch && req.is(JSON_PATCH)) && !req.is(JSON_TYPES)) {
    return notSupported(
      415,
      `Content-Type "${req.headers['content-type'] ?? '(none)'}" is not supported; use ${patch ? `${JSON_PATCH} or ${FHIR_JSON}` : FHIR_JSON}`,
    );
  }
  return undefined;
}

/** True when some listed media range with q > 0 covers JSON. */
function acceptsJson(accept: string): boolean {
  return accept.split(',').some((part) => {
    const [range = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q && Number(q.slice(2)) === 0) return false;
    const type = range.trim();
    return type === '*/*' || type === 'application/*' || JSON_TYPES.includes(type);
  });
}
