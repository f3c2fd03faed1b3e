import { webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchToken } from '../../src/auth/backend-services-client.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { bearer, getToken, makeClient, type TestClient } from './auth-helpers.js';

let server: TestServer;
let rsa: TestClient;
let ec: TestClient;
let remote: TestClient;
let jwksHost: Server;
let jwksFetches = 0;

beforeAll(async () => {
  rsa = await makeClient('rsa-client');
  ec = await makeClient('ec-client', 'EC');
  remote = await makeClient('remote-client');
  jwksHost = createServer((_req, res) => {
    jwksFetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(remote.jwks));
  });
  await new Promise<void>((resolve) => jwksHost.listen(0, '127.0.0.1', resolve));
  const jwksUri = `http://127.0.0.1:${(jwksHost.address() as AddressInfo).port}/jwks`;
  server = await startTestServer({}, undefined, {
    clients: [
      {
        clientId: rsa.clientId,
        jwks: rsa.jwks,
        scope: 'system/*.cruds',
        fhirUser: 'Organization/9',
      },
      { clientId: ec.clientId, jwks: ec.jwks, scope: 'system/Patient.rs' },
      { clientId: remote.clientId, jwksUri, scope: 'system/*.rs' },
    ],
  });
});
afterAll(async () => {
  await server?.close();
  jwksHost?.close();
});

describe('discovery', () => {
  it('serves the SMART configuration, metadata and the JWKS without a token', async () => {
    const smart = await request(server.base).get('/.well-known/smart-configuration').expect(200);
    expect(smart.body).toMatchObject({
      token_endpoint: `${server.base}/auth/token`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    });
    expect(smart.body.capabilities).toContain('client-confidential-asymmetric');
    expect(smart.body.capabilities).toContain('permission-v2');
    const meta = await request(server.base).get('/metadata').expect(200);
    const security = meta.body.rest[0].security;
    expect(security.service[0].coding[0].code).toBe('SMART-on-FHIR');
    expect(security.extension[0].extension[0]).toEqual({
      url: 'token',
      valueUri: `${server.base}/auth/token`,
    });
    const jwks = await request(server.base).get('/auth/jwks').expect(200);
    expect(jwks.body.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS384' });
    expect(jwks.body.keys[0].d).toBeUndefined();
  });

  it('answers 401 with WWW-Authenticate and an OperationOutcome without a token', async () => {
    const res = await request(server.base).get('/Patient').expect(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="fhir"/);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const bad = await request(server.base)
      .get('/Patient')
      .set('Authorization', 'Bearer x.y.z')
      .expect(401);
    expect(bad.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    await request(server.base).get('/Patient').set('Authorization', 'Basic abc').expect(401);
  });
});

describe('SMART Backend Services', () => {
  it('hand-built RS384 assertion: token with the granted scope, no-store, works on the API', async () => {
    const { body, headers } = await request(server.base)
      .post('/auth/token')
      .type('form')
      .send({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await (await import('./auth-helpers.js')).assertion(
          rsa,
          `${server.base}/auth/token`,
        ),
        scope: 'system/*.cruds',
      })
      .expect(200);
    expect(headers['cache-control']).toBe('no-store');
    expect(body).toMatchObject({ token_type: 'bearer', scope: 'system/*.cruds', expires_in: 3600 });
    const created = await request(server.base)
      .post('/Patient')
      .set(bearer(body.access_token))
      .send({ resourceType: 'Patient', name: [{ family: 'Backend' }] })
      .expect(201);
    await request(server.base)
      .get(`/Patient/${created.body.id}`)
      .set(bearer(body.access_token))
      .expect(200);
  });

  it('ES384 client gets only what it may and is refused the rest with 403', async () => {
    const token = await getToken(server.base, ec, 'system/*.rs');
    await request(server.base).get('/Patient').set(bearer(token)).expect(200);
    const denied = await request(server.base).get('/Observation').set(bearer(token)).expect(403);
    expect(denied.body.issue[0].code).toBe('forbidden');
    await request(server.base)
      .post('/Patient')
      .set(bearer(token))
      .send({ resourceType: 'Patient' })
      .expect(403);
  });

  it('with a real OAuth client library (openid-client, private_key_jwt RS384)', async () => {
    const tokenUrl = `${server.base}/auth/token`;
    const key = await webcrypto.subtle.importKey(
      'jwk',
      rsa.privateKey as webcrypto.JsonWebKey,
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' },
      false,
      ['sign'],
    );
    const config = new oidc.Configuration(
      { issuer: server.base, token_endpoint: tokenUrl },
      rsa.clientId,
      {},
      // SMART wants aud = the token endpoint; the library defaults to the issuer.
      oidc.PrivateKeyJwt(key, {
        [oidc.modifyAssertion]: (_header, payload) => {
          payload.aud = tokenUrl;
        },
      }),
    );
    oidc.allowInsecureRequests(config);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'system/Patient.rs' });
    expect(tokens.scope).toBe('system/Patient.rs');
    await request(server.base).get('/Patient').set(bearer(tokens.access_token)).expect(200);
  });

  it('fetches a jwks_uri once and reuses it', async () => {
    const before = jwksFetches;
    for (let i = 0; i < 3; i++) {
      const t = await fetchToken({
        fhirBaseUrl: server.base,
        clientId: remote.clientId,
        privateKey: remote.privateKey,
        scope: 'system/*.rs',
      });
      await request(server.base).get('/Patient').set(bearer(t.accessToken)).expect(200);
    }
    expect(jwksFetches - before).toBe(1);
  });
});
