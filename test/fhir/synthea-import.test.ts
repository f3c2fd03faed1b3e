import { readdirSync, readFileSync } from 'node:fs';
import type { Bundle, Resource } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.js';

const FIXTURES = new URL('../fixtures/synthea/', import.meta.url);
const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));

let server: TestServer;
let api: TestServer['api'];
beforeAll(async () => {
  server = await startTestServer({ maxBodyBytes: 16 * 1024 * 1024 });
  api = server.api;
});
afterAll(() => server?.close());

/** Every `reference` string in a resource, at any depth. */
function references(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) references(item, out);
  else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === 'reference' && typeof child === 'string') out.push(child);
      else references(child, out);
    }
  }
  return out;
}

describe('Synthea transaction bundles', () => {
  it('every bundle imports as a transaction and every stored reference resolves', async () => {
    const stored: string[] = [];
    for (const file of files) {
      const bundle = JSON.parse(readFileSync(new URL(file, FIXTURES), 'utf8')) as Bundle;
      expect(bundle.type).toBe('transaction');
      const res = await api.post('').set('Content-Type', 'application/fhir+json').send(bundle);
      expect(res.status, `${file}: ${JSON.stringify(res.body.issue?.[0])}`).toBe(200);
      const entries = (res.body as Bundle).entry!;
      expect(entries).toHaveLength(bundle.entry!.length);
      for (const entry of entries) {
        expect(entry.response!.status).toBe('201 Created');
        stored.push(entry.response!.location!.split('/_history')[0]!);
      }
    }
    expect(stored).toHaveLength(2411);

    const targets = new Set<string>();
    const unresolved: string[] = [];
    for (let i = 0; i < stored.length; i += 32) {
      await Promise.all(
        stored.slice(i, i + 32).map(async (path) => {
          const resource = (await api.get(`/${path}`).expect(200)).body as Resource & {
            contained?: Resource[];
          };
          for (const ref of references(resource)) {
            if (ref.startsWith('#')) {
              if (!resource.contained?.some((c) => c.id === ref.slice(1)))
                unresolved.push(`${path} -> ${ref}`);
            } else if (/^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(ref)) targets.add(ref);
            else unresolved.push(`${path} -> ${ref}`);
          }
        }),
      );
    }
    expect(unresolved).toEqual([]);
    expect(targets.size).toBeGreaterThan(1000);
    const missing: string[] = [];
    const list = [...targets];
    for (let i = 0; i < list.length; i += 32) {
      await Promise.all(
        list.slice(i, i + 32).map(async (ref) => {
          const res = await api.get(`/${ref}`);
          if (res.status !== 200) missing.push(`${ref}: ${res.status}`);
        }),
      );
    }
    expect(missing).toEqual([]);

    // One patient per bundle: nothing was merged or lost.
    const patients = stored.filter((p) => p.startsWith('Patient/'));
    expect(patients).toHaveLength(files.length);
  });
});
