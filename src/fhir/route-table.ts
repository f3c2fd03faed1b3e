import { processBundle } from './bundles/process-bundle.js';
import { capabilities } from './interactions/capabilities.js';
import { consentSigningRequest } from './interactions/consent-signing.js';
import { create } from './interactions/create.js';
import { remove } from './interactions/delete.js';
import { patientEverything } from './interactions/everything.js';
import { historyInstance, historySystem, historyType } from './interactions/history.js';
import { ledgerInfo, verifyVersion } from './interactions/ledger.js';
import { patch } from './interactions/patch.js';
import { read } from './interactions/read.js';
import { searchSystem, searchType } from './interactions/search.js';
import type { Route } from './interactions/types.js';
import { update } from './interactions/update.js';
import { validate } from './interactions/validate.js';
import { vread } from './interactions/vread.js';

const LEDGER = { name: 'ledger', definition: 'https://fhir-ledger.dev/OperationDefinition/ledger' };
const VERIFY = { name: 'verify', definition: 'https://fhir-ledger.dev/OperationDefinition/verify' };
const SIGNING_REQUEST = {
  name: 'signing-request',
  definition: 'https://fhir-ledger.dev/OperationDefinition/consent-signing-request',
};
const EVERYTHING = {
  name: 'everything',
  definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything',
};
const VALIDATE = {
  name: 'validate',
  definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
};

/** Everything the server answers, one line per interaction; the CapabilityStatement is generated from it. */
// biome-ignore format: one line per interaction keeps the served surface readable at a glance
export const routes: readonly Route[] = [
  { method: 'GET', path: '/metadata', interaction: 'capabilities', level: 'system', handler: capabilities },
  // One handler reads Bundle.type; both lines make the CapabilityStatement list both.
  { method: 'POST', path: '/', interaction: 'transaction', level: 'system', handler: processBundle },
  { method: 'POST', path: '/', interaction: 'batch', level: 'system', handler: processBundle },
  { method: 'GET', path: '/$ledger', interaction: 'ledger', level: 'system', operation: LEDGER, handler: ledgerInfo },
  { method: 'GET', path: '/_history', interaction: 'history-system', level: 'system', handler: historySystem },
  { method: 'GET', path: '/', interaction: 'search-system', level: 'system', handler: searchSystem },
  { method: 'POST', path: '/_search', interaction: 'search-system', level: 'system', handler: searchSystem },
  { method: 'GET', path: '/:type', interaction: 'search-type', level: 'type', handler: searchType },
  { method: 'POST', path: '/:type/_search', interaction: 'search-type', level: 'type', handler: searchType },
  { method: 'POST', path: '/Consent/$signing-request', interaction: 'consent-signing', level: 'type', operation: SIGNING_REQUEST, handler: consentSigningRequest },
  { method: 'POST', path: '/:type/$validate', interaction: 'validate', level: 'type', operation: VALIDATE, handler: validate },
  { method: 'GET', path: '/:type/_history', interaction: 'history-type', level: 'type', handler: historyType },
  { method: 'POST', path: '/:type', interaction: 'create', level: 'type', handler: create },
  // Conditional patch (PATCH [type]?query); listed as the type's `patch` interaction.
  { method: 'PATCH', path: '/:type', interaction: 'patch', level: 'type', handler: patch },
  { method: 'GET', path: '/Patient/:id/$everything', interaction: 'everything', level: 'instance', operation: EVERYTHING, handler: patientEverything },
  { method: 'POST', path: '/Patient/:id/$everything', interaction: 'everything', level: 'instance', operation: EVERYTHING, handler: patientEverything },
  { method: 'GET', path: '/:type/:id', interaction: 'read', level: 'instance', handler: read },
  { method: 'PUT', path: '/:type/:id', interaction: 'update', level: 'instance', handler: update },
  { method: 'PATCH', path: '/:type/:id', interaction: 'patch', level: 'instance', handler: patch },
  { method: 'DELETE', path: '/:type/:id', interaction: 'delete', level: 'instance', handler: remove },
  { method: 'POST', path: '/:type/:id/$validate', interaction: 'validate', level: 'instance', operation: VALIDATE, handler: validate },
  { method: 'GET', path: '/:type/:id/_history', interaction: 'history-instance', level: 'instance', handler: historyInstance },
  { method: 'GET', path: '/:type/:id/_history/:vid/$verify', interaction: 'verify', level: 'instance', operation: VERIFY, handler: verifyVersion },
  { method: 'GET', path: '/:type/:id/_history/:vid', interaction: 'vread', level: 'instance', handler: vread },
];
