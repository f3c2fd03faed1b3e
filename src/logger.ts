import pino from 'pino';

export type Logger = pino.Logger;

/**
 * Structured JSON logs. Callers log interaction names, resource types and statuses;
 * never resource ids, query strings or bodies, which can carry PHI.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'fhir-ledger' },
    redact: { paths: ['req.headers.authorization', 'authorization'], remove: true },
  });
}
