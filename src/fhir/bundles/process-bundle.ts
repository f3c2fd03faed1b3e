import type { Bundle } from 'fhir/r4.js';
import { runBeforeOperation } from '../hooks.js';
import { single } from '../interactions/common.js';
import type { Handler } from '../interactions/types.js';
import { runBatch } from './batch.js';
import { responseEntry, returnPreference } from './entry-result.js';
import { bundleType, planEntries } from './parse-bundle.js';
import { runTransaction } from './transaction.js';

/**
 * POST [base] with a `batch` or `transaction` Bundle: checks and validates every
 * entry before anything is stored, processes the entries in the spec's order and
 * answers a `batch-response` / `transaction-response` with one entry per request
 * entry, in request order. `Prefer: return=representation` adds the stored
 * resources; by default write entries carry status, location, etag and
 * lastModified only.
 */
export const processBundle: Handler = async (req, services) => {
  const type = bundleType(req.body);
  await runBeforeOperation(services.hooks, { interaction: type }, req.ctx);
  const plans = planEntries(req.body as Bundle, services, req.baseUrl);
  const run = type === 'transaction' ? runTransaction : runBatch;
  const results = await run(plans, services, req);
  const preference = returnPreference(single(req.header('prefer')));
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: `${type}-response`,
    link: [{ relation: 'self', url: req.baseUrl }],
    entry: results.map((result) => responseEntry(result, req.baseUrl, preference)),
  };
  return { status: 200, resource: bundle };
};
