import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.js';

const FHIR_JSON = 'application/fhir+json';
const TYPES = ['Patient', 'Observation', 'Claim', 'Consent', 'Provenance', 'AuditEvent'];

type Json = Record<string, unknown> & { resourceType: string };

const folder = path.dirname(
  createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'),
);

/** Every official example of the types, by file; prefixes overlap (Claim-, ClaimResponse-), so the type is read. */
const examples = readdirSync(folder)
  .filter((file) => file.endsWith('.json') && TYPES.includes(file.split('-')[0]!))
  .map((file) => ({
    file,
    resource: JSON.parse(readFileSync(path.join(folder, file), 'utf8')) as Json,
  }))
  .filter(({ file, resource }) => resource.resourceType === file.split('-')[0]);

function withoutIdAndMeta(resource: Json): Json {
  const { id: _id, meta: _meta, ...rest } = resource;
  return rest as Json;
}

let server: TestServer;
let api: TestServer['api'];

beforeAll(async () => {
  server = await startTestServer();
  api = server.api;
});
afterAll(() => server?.close());

describe('official R4 examples', () => {
  it('covers every type, from the npm package', () => {
    const perType = Object.fromEntries(
      TYPES.map((t) => [t, examples.filter((e) => e.resource.resourceType === t).length]),
    );
    for (const type of TYPES) expect(perType[type], type).toBeGreaterThan(0);
    expect(examples.length).toBeGreaterThanOrEqual(100);
  });

  it.each(examples)('$file is accepted and reads back unchanged', async ({ resource }) => {
    const created = await api
      .post(`/${resource.resourceType}`)
      .set('Content-Type', FHIR_JSON)
      .send(resource);
    expect(created.status, JSON.stringify(created.body.issue ?? created.body)).toBe(201);
    const read = await api.get(`/${resource.resourceType}/${created.body.id}`).expect(200);
    expect(read.body.id).toBe(created.body.id);
    expect(read.body.meta.versionId).toBe('1');
    expect(withoutIdAndMeta(read.body)).toEqual(withoutIdAndMeta(resource));
  });
});
