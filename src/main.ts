import { failedToStart, serve } from './serve.js';

/** `npm start`: the same as `fhir-ledger serve`. */
serve().catch(failedToStart);
