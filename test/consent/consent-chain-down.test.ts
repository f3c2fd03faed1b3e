import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestChain, type TestChain } from '../support/test-chain.js';
import { consentFor, type LifecycleServer, startLifecycleServer } from './lifecycle-helpers.js';

describe('Consent writes with the chain stopped', () => {
  let chain: TestChain;
  let s: LifecycleServer;
  let patient: string;

  const stored = async () =>
    Number(
      (
        await s.server.services.db.pool.query(
          "SELECT count(*) AS n FROM resource_version WHERE resource_type = 'Consent'",
        )
      ).rows[0].n,
    );

  beforeAll(async () => {
    chain = await startTestChain();
    s = await startLifecycleServer(chain);
    patient = `Patient/${(await s.server.api.post('/Patient').send({ resourceType: 'Patient' })).body.id}`;
  }, 60_000);

  afterAll(async () => {
    await s?.server.close();
    await chain?.stop();
  });

  it('answers 503 and stores nothing, while drafts (no grant) are still stored', async () => {
    const active = await s.server.api
      .post('/Consent')
      .send(consentFor(patient, 'Practitioner/p1', ['Observation']))
      .expect(201);
    await chain.stop();
    const before = await stored();
    const res = await s.server.api
      .post('/Consent')
      .send(consentFor(patient, 'Practitioner/p1', ['Condition']))
      .expect(503);
    expect(res.body.resourceType).toBe('OperationOutcome');
    // Revoking needs the chain too: the active Consent stays as it was.
    await s.server.api.delete(`/Consent/${active.body.id}`).expect(503);
    expect((await s.server.api.get(`/Consent/${active.body.id}`).expect(200)).body.status).toBe(
      'active',
    );
    expect(await stored()).toBe(before);
    await s.server.api
      .post('/Consent')
      .send({ ...consentFor(patient, 'Practitioner/p1', ['Condition']), status: 'draft' })
      .expect(201);
  });
});
