import type { Consent } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestChain, type TestChain } from '../support/test-chain.js';
import { consentFor, type LifecycleServer, startLifecycleServer } from './lifecycle-helpers.js';

describe('a Consent written over REST decides reads on the next request (enforcement)', () => {
  let chain: TestChain;
  let s: LifecycleServer;
  let observation: string;
  let patient: string;
  let practitioner: string;
  let asPractitioner: string;

  beforeAll(async () => {
    chain = await startTestChain();
    s = await startLifecycleServer(chain);
    const api = s.server.api;
    patient = `Patient/${(await api.post('/Patient').send({ resourceType: 'Patient' })).body.id}`;
    practitioner = `Practitioner/${
      (await api.post('/Practitioner').send({ resourceType: 'Practitioner' })).body.id
    }`;
    observation = `Observation/${
      (
        await api
          .post('/Observation')
          .send({
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'x' },
            subject: { reference: patient },
          })
          .expect(201)
      ).body.id
    }`;
    asPractitioner = await s.token({ fhirUser: practitioner, scope: 'user/*.rs' });
  }, 60_000);

  afterAll(async () => {
    await s?.server.close();
    await chain?.stop();
  });

  it('POST Consent -> the practitioner reads; status inactive -> denied; active -> reads; DELETE -> denied', async () => {
    const read = () => s.as(asPractitioner).get(`/${observation}`);
    await read().expect(404);
    const created = await s.server.api
      .post('/Consent')
      .send(consentFor(patient, practitioner, ['Observation']))
      .expect(201);
    expect((await read().expect(200)).body.id).toBe(observation.split('/')[1]);
    const consent = created.body as Consent;
    await s.server.api
      .put(`/Consent/${consent.id}`)
      .send({ ...consent, status: 'inactive' })
      .expect(200);
    await read().expect(404);
    await s.server.api
      .put(`/Consent/${consent.id}`)
      .send({ ...consent, status: 'active' })
      .expect(200);
    await read().expect(200);
    await s.server.api.delete(`/Consent/${consent.id}`).expect(204);
    await read().expect(404);
  });

  it('a Consent for another class does not open Observations', async () => {
    await s.server.api
      .post('/Consent')
      .send(consentFor(patient, practitioner, ['Condition']))
      .expect(201);
    await s.as(asPractitioner).get(`/${observation}`).expect(404);
  });
});
