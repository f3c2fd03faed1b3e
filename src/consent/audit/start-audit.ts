import type { ConsentContext } from '../start-consent.js';

/** STUB (issue 7, audit): writes an AuditEvent for every access decision. */
export function startAudit(_context: ConsentContext): { stop(): Promise<void> } {
  return { stop: async () => {} };
}
