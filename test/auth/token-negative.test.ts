import jose from 'node-jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signJwt } from '../../src/auth/jwt.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import {
  assertion,
  bearer,
  externalToken,
  JWT_BEARER,
  makeClient,
  type TestClient,
  tokenRequest,
} from './auth-helpers.js';

let server: TestServer;
let client: TestClient;
let tokenUrl: string;

beforeAll(async () => {
  client = await makeClient('battery');
  server = await startTestServer({}, undefined, {
    clients: [{ clientId: client.clientId, jwks: client.jwks, scope: 'system/Patient.rs' }],
  });
  tokenUrl = `${server.base}/auth/token`;
});
afterAll(() => server?.close());

const form = async (over: Record<string, string> = {}, claims: Record<string, unknown> = {}) => ({
  grant_type: 'client_credentials',
  client_assertion_type: JWT_BEARER,
  client_assertion: await assertion(client, tokenUrl, claims),
  scope: 'system/Patient.rs',
  ...over,
});

async function refused(body: Record<string, string>, error: string, description?: RegExp) {
  const res = await tokenRequest(server.base, body);
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.error).toBe(error);
  if (description) expect(res.body.error_description).toMatch(description);
  expect(res.body.access_token).toBeUndefined();
  expect(res.headers['cache-control']).toBe('no-store');
}

describe('token endpoint refuses, per RFC 6749', () => {
  it('a bad grant type or a missing one', async () => {
    await refused(await form({ grant_type: 'password' }), 'unsupported_grant_type');
    const { grant_type: _, ...rest } = await form();
    await refused(rest, 'invalid_request');
  });

  it('a bad assertion type or no assertion', async () => {
    await refused(await form({ client_assertion_type: 'urn:x' }), 'invalid_client');
    await refused(await form({ client_assertion: '' }), 'invalid_client');
    await refused(await form({ client_assertion: 'not-a-jwt' }), 'invalid_client', /compact JWS/);
  });

  it('wrong iss, sub or aud', async () => {
    await refused(await form({}, { sub: 'someone-else' }), 'invalid_client', /sub must equal iss/);
    await refused(
      await form({}, { iss: 'nobody', sub: 'nobody' }),
      'invalid_client',
      /unknown client/,
    );
    await refused(await form({}, { aud: `${server.base}` }), 'invalid_client', /aud must be/);
    await refused(await form({ client_id: 'other' }), 'invalid_client', /client_id/);
  });

  it('an expired assertion, or one living longer than five minutes', async () => {
    const past = Math.floor(Date.now() / 1000) - 3600;
    await refused(await form({}, { exp: past, iat: past - 60 }), 'invalid_client', /expired/);
    await refused(await form({}, { exp: past + 7200 }), 'invalid_client', /300 seconds/);
    await refused(await form({}, { exp: undefined }), 'invalid_client', /exp/);
  });

  it('a reused jti', async () => {
    const body = await form({}, { jti: 'once-only' });
    expect((await tokenRequest(server.base, body)).status).toBe(200);
    await refused(
      { ...body, client_assertion: await assertion(client, tokenUrl, { jti: 'once-only' }) },
      'invalid_client',
      /jti was already used/,
    );
    await refused(await form({}, { jti: undefined }), 'invalid_client', /needs a jti/);
  });

  it('a key that is not in the client JWKS', async () => {
    const stranger = await makeClient('battery');
    const body = await form({ client_assertion: await assertion(stranger, tokenUrl) });
    await refused(body, 'invalid_client', /no registered key|does not verify/);
  });

  it('alg none and HS256 keyed with the public key', async () => {
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: client.clientId,
      sub: client.clientId,
      aud: tokenUrl,
      exp: now + 60,
      jti: 'n',
    };
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    await refused(await form({ client_assertion: none }), 'invalid_client', /alg "none"/);
    const secret = await jose.JWK.asKey({
      kty: 'oct',
      k: Buffer.from(JSON.stringify(client.jwks.keys[0])).toString('base64url'),
    });
    const hs = await signJwt({ ...claims, jti: 'h' }, secret, 'HS256');
    await refused(await form({ client_assertion: hs }), 'invalid_client', /alg "HS256"/);
  });

  it('scope escalation: nothing beyond what the client is allowed', async () => {
    await refused(await form({ scope: 'system/Observation.rs' }), 'invalid_scope');
    await refused(await form({ scope: '' }), 'invalid_scope');
    const res = await tokenRequest(server.base, await form({ scope: 'system/*.cruds' }));
    expect(res.body.scope).toBe('system/Patient.rs');
    await request(server.base).get('/Observation').set(bearer(res.body.access_token)).expect(403);
    await request(server.base)
      .post('/Patient')
      .set(bearer(res.body.access_token))
      .send({ resourceType: 'Patient' })
      .expect(403);
  });

  it('a body that is not a form', async () => {
    const res = await request(server.base)
      .post('/auth/token')
      .send({ grant_type: 'client_credentials' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });
});

describe('access tokens are refused', () => {
  it('for another audience, expired, or signed by an unknown issuer', async () => {
    const stranger = await jose.JWK.createKey('RSA', 2048, { alg: 'RS256', kid: 'x' });
    const unknownIssuer = await externalToken(stranger, {
      iss: 'https://idp.example.org',
      aud: server.base,
      sub: 'u',
      scope: 'system/*.rs',
    });
    const res = await request(server.base).get('/Patient').set(bearer(unknownIssuer)).expect(401);
    expect(res.headers['www-authenticate']).toMatch(/invalid_token/);
    // Our own key, but for another audience, or expired: made with the server's key directly.
    const own = await jose.JWK.asKey(server.signingKey);
    const past = Math.floor(Date.now() / 1000) - 3600;
    const claims = { iss: server.base, sub: 'battery', scope: 'system/*.rs' };
    const otherAud = await signJwt(
      { ...claims, aud: 'https://elsewhere.example.org/fhir', exp: past + 7200 },
      own,
      'RS384',
    );
    const expired = await signJwt({ ...claims, aud: server.base, exp: past }, own, 'RS384');
    const ok = await signJwt({ ...claims, aud: server.base, exp: past + 7200 }, own, 'RS384');
    await request(server.base).get('/Patient').set(bearer(ok)).expect(200);
    const a = await request(server.base).get('/Patient').set(bearer(otherAud)).expect(401);
    expect(a.body.issue[0].diagnostics).toMatch(/another audience/);
    const e = await request(server.base).get('/Patient').set(bearer(expired)).expect(401);
    expect(e.body.issue[0].diagnostics).toMatch(/expired/);
    const none = `${ok.split('.').slice(0, 2).join('.')}.`;
    await request(server.base)
      .get('/Patient')
      .set(bearer(`${none}`))
      .expect(401);
  });
});
