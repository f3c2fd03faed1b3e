import type { Bundle, BundleEntry, FhirResource } from 'fhir/r4.js';
import { expect } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.js';

export const FHIR_JSON = 'application/fhir+json';

export interface SearchApi {
  server: TestServer;
  api: TestServer['api'];
  /** Stores resources under their own ids (PUT), failing loudly on any rejection. */
  put(...resources: FhirResource[]): Promise<void>;
  /** GET a search (path relative to the FHIR base) and return the Bundle, expecting 200. */
  bundle(path: string, headers?: Record<string, string>): Promise<Bundle>;
  /** Sorted ids of the `match` entries of a search. */
  ids(path: string): Promise<string[]>;
}

export async function startSearchApi(
  registerHooks?: Parameters<typeof startTestServer>[1],
): Promise<SearchApi> {
  const server = await startTestServer({}, registerHooks);
  const api = server.api;
  const bundle = async (path: string, headers: Record<string, string> = {}) => {
    const res = await api.get(path).set(headers);
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(200);
    expect(res.body.resourceType).toBe('Bundle');
    return res.body as Bundle;
  };
  return {
    server,
    api,
    async put(...resources) {
      for (const resource of resources) {
        const res = await api
          .put(`/${resource.resourceType}/${resource.id}`)
          .set('Content-Type', FHIR_JSON)
          .send(resource);
        expect([200, 201], JSON.stringify(res.body)).toContain(res.status);
      }
    },
    bundle,
    async ids(path) {
      return matchIds(await bundle(path));
    },
  };
}

export function matches(bundle: Bundle): BundleEntry[] {
  return (bundle.entry ?? []).filter((e) => e.search?.mode === 'match');
}

export function matchIds(bundle: Bundle): string[] {
  return matches(bundle)
    .map((e) => e.resource!.id!)
    .sort();
}

/** The link of a relation, as a path relative to the FHIR base. */
export function linkPath(bundle: Bundle, relation: string, base: string): string | undefined {
  const url = bundle.link?.find((l) => l.relation === relation)?.url;
  if (!url) return undefined;
  expect(url.startsWith(base)).toBe(true);
  return url.slice(base.length);
}

export const sorted = (ids: string[]) => [...ids].sort();
