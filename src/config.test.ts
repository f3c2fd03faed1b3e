import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has working defaults for a fresh machine', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      databaseUrl: undefined,
      logLevel: 'info',
    });
    expect(config.dataDir).toBe(path.resolve('data'));
  });

  it('reads every documented variable', () => {
    const config = loadConfig({
      PORT: '9090',
      HOST: '127.0.0.1',
      DATA_DIR: '/var/lib/fhir-ledger',
      DATABASE_URL: 'postgres://u:p@db:5432/fhir',
      PUBLIC_BASE_URL: 'https://fhir.example.org/fhir/',
      LOG_LEVEL: 'warn',
      MAX_BODY_BYTES: '2048',
    });
    expect(config).toMatchObject({
      port: 9090,
      host: '127.0.0.1',
      dataDir: '/var/lib/fhir-ledger',
      databaseUrl: 'postgres://u:p@db:5432/fhir',
      publicBaseUrl: 'https://fhir.example.org/fhir',
      logLevel: 'warn',
      maxBodyBytes: 2048,
    });
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT must be an integer/],
    [{ PORT: '70000' }, /PORT must be an integer from 0 to 65535/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL must use postgres: or postgresql:/],
    [{ DATABASE_URL: 'not a url' }, /DATABASE_URL is not a valid URL/],
    [{ PUBLIC_BASE_URL: 'ftp://x' }, /PUBLIC_BASE_URL must use http: or https:/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ MAX_BODY_BYTES: '10' }, /MAX_BODY_BYTES must be an integer from 1024/],
  ])('refuses bad configuration %j with a clear message', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('loadConfig: SMART authorization', () => {
  it('keeps the registry and signing key in the data folder by default', () => {
    expect(loadConfig({ DATA_DIR: '/srv/d' }).auth).toEqual({
      registryFile: '/srv/d/auth/registry.json',
      signingKeyFile: '/srv/d/auth/signing-key.json',
      tokenLifetimeSeconds: 300,
      jwksCacheSeconds: 600,
    });
  });

  it('reads the auth variables', () => {
    expect(
      loadConfig({
        AUTH_REGISTRY_FILE: '/etc/fhir/registry.json',
        AUTH_SIGNING_KEY_FILE: '/run/secrets/key.json',
        AUTH_TOKEN_LIFETIME: '900',
        AUTH_JWKS_CACHE_SECONDS: '60',
      }).auth,
    ).toEqual({
      registryFile: '/etc/fhir/registry.json',
      signingKeyFile: '/run/secrets/key.json',
      tokenLifetimeSeconds: 900,
      jwksCacheSeconds: 60,
    });
  });

  it.each([
    [{ AUTH_TOKEN_LIFETIME: '5' }, /AUTH_TOKEN_LIFETIME must be an integer from 60/],
    [{ AUTH_JWKS_CACHE_SECONDS: '-1' }, /AUTH_JWKS_CACHE_SECONDS must be an integer/],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
