import type { ConsentContext } from '../start-consent.js';

/** STUB (issue 7, lifecycle): FHIR Consent <-> grants on chain. */
export function registerConsentLifecycle(_context: ConsentContext): void {}
