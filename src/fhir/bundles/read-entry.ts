import { FhirError } from '../errors.js';
import type { FhirRequest, Services } from '../interactions/types.js';
import type { EntryResult } from './entry-result.js';
import type { ReadEntry } from './parse-bundle.js';

/**
 * Answers a GET/HEAD entry with the route table's own handler (read, vread,
 * history, search...), which runs its beforeOperation hooks and presentation.
 */
export async function readEntry(
  services: Services,
  entry: ReadEntry,
  outer: Pick<FhirRequest, 'baseUrl' | 'ctx'>,
): Promise<EntryResult> {
  const { route, params, query } = entry.match;
  const request: FhirRequest = {
    resourceType: params.type,
    id: params.id,
    versionId: params.vid,
    query,
    body: undefined,
    header: (name) => entry.headers[name.toLowerCase()],
    baseUrl: outer.baseUrl,
    url: `/${entry.url}`,
    ctx: outer.ctx,
  };
  try {
    const response = await route.handler(request, services);
    return { kind: 'read', response, head: entry.method === 'HEAD' };
  } catch (err) {
    if (err instanceof FhirError) return { kind: 'error', error: err };
    throw err;
  }
}
