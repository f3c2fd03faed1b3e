/**
 * FHIR R4 REST conformance checks, run against any live server:
 *
 *   npm run conformance -- http://localhost:8080/fhir
 *
 * Each check follows a MUST/SHALL of the RESTful API page of the R4 spec; the
 * suite creates its own Patients and deletes them afterwards.
 */

export interface CheckResult {
  name: string;
  ok: boolean;
  detail?: string;
}

type Check = [name: string, run: (ctx: Context) => Promise<void>];

interface Context {
  base: string;
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
    /** A raw body sent as is (malformed input checks). */
    raw?: string,
  ): Promise<Response>;
  created: string[];
}

const JSON_TYPE = 'application/fhir+json';
const patient = { resourceType: 'Patient', name: [{ family: 'Conformance' }], gender: 'other' };

function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function createPatient(
  ctx: Context,
): Promise<{ id: string; res: Response; body: Record<string, unknown> }> {
  const res = await ctx.call('POST', '/Patient', patient);
  const body = (await res.json()) as Record<string, unknown>;
  ctx.created.push(body.id as string);
  return { id: body.id as string, res, body };
}

const checks: Check[] = [
  [
    'metadata is a CapabilityStatement for FHIR 4.0.1',
    async (ctx) => {
      const res = await ctx.call('GET', '/metadata');
      const body = (await res.json()) as { resourceType: string; fhirVersion: string };
      expect(res.status === 200, `status ${res.status}`);
      expect(
        body.resourceType === 'CapabilityStatement' && body.fhirVersion === '4.0.1',
        'not an R4 CapabilityStatement',
      );
    },
  ],
  [
    'create answers 201 with Location, ETag and a server id',
    async (ctx) => {
      const { res, body } = await createPatient(ctx);
      expect(res.status === 201, `status ${res.status}`);
      expect(
        /\/Patient\/[^/]+\/_history\/1$/.test(res.headers.get('location') ?? ''),
        'Location is not a versioned URL',
      );
      expect(/^W\/"1"$/.test(res.headers.get('etag') ?? ''), `ETag ${res.headers.get('etag')}`);
      expect((body.meta as { versionId?: string })?.versionId === '1', 'meta.versionId is not 1');
    },
  ],
  [
    'read answers the resource with ETag and Last-Modified',
    async (ctx) => {
      const { id } = await createPatient(ctx);
      const res = await ctx.call('GET', `/Patient/${id}`);
      expect(res.status === 200, `status ${res.status}`);
      expect(res.headers.get('etag') === 'W/"1"', `ETag ${res.headers.get('etag')}`);
      expect(res.headers.get('last-modified'), 'no Last-Modified');
      expect(
        (res.headers.get('content-type') ?? '').startsWith(JSON_TYPE),
        'content type is not FHIR JSON',
      );
    },
  ],
  [
    'update makes version 2; vread still returns version 1',
    async (ctx) => {
      const { id } = await createPatient(ctx);
      const res = await ctx.call('PUT', `/Patient/${id}`, { ...patient, id, gender: 'female' });
      expect(res.status === 200, `update status ${res.status}`);
      const v1 = (await (await ctx.call('GET', `/Patient/${id}/_history/1`)).json()) as {
        gender: string;
      };
      expect(v1.gender === 'other', 'vread 1 changed');
    },
  ],
  [
    'update with a stale If-Match is 412',
    async (ctx) => {
      const { id } = await createPatient(ctx);
      await ctx.call('PUT', `/Patient/${id}`, { ...patient, id }, { 'If-Match': 'W/"1"' });
      const res = await ctx.call(
        'PUT',
        `/Patient/${id}`,
        { ...patient, id },
        { 'If-Match': 'W/"1"' },
      );
      expect(res.status === 412, `status ${res.status}`);
    },
  ],
  [
    'update with an id mismatch is 400',
    async (ctx) => {
      const res = await ctx.call('PUT', '/Patient/conformance-a', {
        ...patient,
        id: 'conformance-b',
      });
      expect(res.status === 400, `status ${res.status}`);
    },
  ],
  [
    'read after delete is 410 Gone',
    async (ctx) => {
      const { id } = await createPatient(ctx);
      const del = await ctx.call('DELETE', `/Patient/${id}`);
      expect(del.status === 200 || del.status === 204, `delete status ${del.status}`);
      const res = await ctx.call('GET', `/Patient/${id}`);
      expect(res.status === 410, `status ${res.status}`);
    },
  ],
  [
    'instance history is a history Bundle, newest first',
    async (ctx) => {
      const { id } = await createPatient(ctx);
      await ctx.call('PUT', `/Patient/${id}`, { ...patient, id, active: true });
      const res = await ctx.call('GET', `/Patient/${id}/_history`);
      const body = (await res.json()) as {
        type: string;
        entry: Array<{ resource: { meta: { versionId: string } } }>;
      };
      expect(body.type === 'history', `type ${body.type}`);
      expect(
        body.entry.map((e) => e.resource.meta.versionId).join() === '2,1',
        'versions not newest first',
      );
    },
  ],
  [
    'unknown id is 404 with an OperationOutcome',
    async (ctx) => {
      const res = await ctx.call('GET', '/Patient/conformance-does-not-exist');
      const body = (await res.json()) as { resourceType: string };
      expect(
        res.status === 404 && body.resourceType === 'OperationOutcome',
        `status ${res.status}`,
      );
    },
  ],
  [
    'malformed JSON is 400 with an OperationOutcome',
    async (ctx) => {
      const res = await ctx.call(
        'POST',
        '/Patient',
        undefined,
        { 'Content-Type': JSON_TYPE },
        '{"resourceType":',
      );
      const body = (await res.json()) as { resourceType: string };
      expect(
        res.status === 400 && body.resourceType === 'OperationOutcome',
        `status ${res.status}`,
      );
    },
  ],
  [
    'an invalid resource is rejected and not stored',
    async (ctx) => {
      const res = await ctx.call('PUT', '/Patient/conformance-invalid', {
        resourceType: 'Patient',
        id: 'conformance-invalid',
        gender: 'robot',
      });
      expect(res.status === 400 || res.status === 422, `status ${res.status}`);
      const read = await ctx.call('GET', '/Patient/conformance-invalid');
      expect(read.status === 404, `invalid resource was stored (read ${read.status})`);
    },
  ],
  [
    'Prefer: return=minimal gives no body',
    async (ctx) => {
      const res = await ctx.call('POST', '/Patient', patient, { Prefer: 'return=minimal' });
      const location = res.headers.get('location') ?? '';
      ctx.created.push(location.split('/Patient/')[1]?.split('/')[0] ?? '');
      expect(res.status === 201 && (await res.text()) === '', 'body present');
    },
  ],
];

/** Runs every check against `base` with a bearer access token (e.g. from `fhir-ledger token`). */
export async function runRestCore(base: string, accessToken: string): Promise<CheckResult[]> {
  const ctx: Context = {
    base,
    created: [],
    call: (method, path, body, headers = {}, raw) =>
      fetch(`${base}${path}`, {
        method,
        headers: {
          Accept: JSON_TYPE,
          Authorization: `Bearer ${accessToken}`,
          ...(body ? { 'Content-Type': JSON_TYPE } : {}),
          ...headers,
        },
        body: raw ?? (body ? JSON.stringify(body) : undefined),
      }),
  };
  const results: CheckResult[] = [];
  for (const [name, run] of checks) {
    try {
      await run(ctx);
      results.push({ name, ok: true });
    } catch (err) {
      results.push({ name, ok: false, detail: err instanceof Error ? err.message : String(err) });
    }
  }
  for (const id of ctx.created.filter(Boolean)) await ctx.call('DELETE', `/Patient/${id}`);
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const base = (process.argv[2] ?? 'http://localhost:8080/fhir').replace(/\/+$/, '');
  const token = process.argv[3];
  if (!token) {
    console.error(
      'usage: conformance/rest-core.ts <FHIR base> <access token>  (token: npx fhir-ledger token)',
    );
    process.exit(2);
  }
  const results = await runRestCore(base, token);
  for (const r of results)
    console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.detail ? ` — ${r.detail}` : ''}`);
  const failed = results.filter((r) => !r.ok).length;
  console.log(`conformance: ${results.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}
