import type { ConsentContext } from '../start-consent.js';

/** STUB (issue 7, enforcement): consent decisions on every read path. */
export function registerEnforcement(_context: ConsentContext): void {}
