import type { Bundle, Patient } from 'fhir/r4.js';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.js';

let server: TestServer;
let client: Client;

beforeAll(async () => {
  server = await startTestServer();
  client = new Client({ baseUrl: server.base, bearerToken: server.token });
});
afterAll(() => server?.close());

const historyOf = async (id: string) =>
  (await client.resourceHistory({ resourceType: 'Patient', id })) as unknown as Bundle<Patient>;

/** fhir-kit-client rejects non-2xx answers with an error carrying the HTTP response. */
interface ClientError {
  response: { status: number; data: { resourceType?: string; issue?: { code: string }[] } };
}

describe('round trip with fhir-kit-client', () => {
  it('creates, reads, vreads, updates, lists history and deletes a Patient', async () => {
    const body: Patient = {
      resourceType: 'Patient',
      name: [{ family: 'Chalmers', given: ['Peter'] }],
      gender: 'male',
      birthDate: '1974-12-25',
    };
    const created = (await client.create({
      resourceType: 'Patient',
      body: { ...body },
    })) as Patient;
    const id = created.id!;
    expect(id).toBeTruthy();
    expect(created.meta?.versionId).toBe('1');
    expect(created.name).toEqual(body.name);

    expect(await client.read({ resourceType: 'Patient', id })).toEqual(created);

    const updated = (await client.update({
      resourceType: 'Patient',
      id,
      body: { ...body, id, gender: 'female', active: true },
    })) as Patient;
    expect(updated.meta?.versionId).toBe('2');
    expect(updated.gender).toBe('female');

    const v1 = (await client.vread({ resourceType: 'Patient', id, version: '1' })) as Patient;
    expect(v1).toEqual(created);
    const v2 = (await client.vread({ resourceType: 'Patient', id, version: '2' })) as Patient;
    expect(v2).toEqual(updated);

    const history = await historyOf(id);
    expect(history.type).toBe('history');
    expect(history.total).toBe(2);
    expect(history.entry?.map((e) => e.resource?.meta?.versionId)).toEqual(['2', '1']);
    expect(history.entry?.[1]?.resource).toEqual(created);

    await client.delete({ resourceType: 'Patient', id });
    const error = (await client
      .read({ resourceType: 'Patient', id })
      .catch((e: unknown) => e)) as ClientError;
    expect(error.response.status).toBe(410);
    expect(error.response.data.resourceType).toBe('OperationOutcome');
    expect(error.response.data.issue?.[0]?.code).toBe('deleted');

    const afterDelete = await historyOf(id);
    expect(afterDelete.total).toBe(3);
    expect(afterDelete.entry?.[0]?.request).toEqual({ method: 'DELETE', url: `Patient/${id}` });
    expect(await client.vread({ resourceType: 'Patient', id, version: '2' })).toEqual(updated);
  });

  it('surfaces a validation failure as a 400 OperationOutcome', async () => {
    const error = (await client
      .create({ resourceType: 'Patient', body: { resourceType: 'Patient', gender: 'robot' } })
      .catch((e: unknown) => e)) as ClientError;
    expect(error.response.status).toBe(400);
    expect(error.response.data.resourceType).toBe('OperationOutcome');
  });
});
