import { afterAll, beforeAll, expect, it } from 'vitest';
import { runRestCore } from '../conformance/rest-core.js';
import { startTestServer, type TestServer } from './support/test-server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

it('the server passes the REST core conformance suite', async () => {
  const results = await runRestCore(server.base, server.token);
  expect(results.length).toBeGreaterThan(10);
  expect(results.filter((r) => !r.ok)).toEqual([]);
});
