import express, { type Request, type RequestHandler } from 'express';
import type { AuthConfig } from '../config.js';
import type { FhirHooks } from '../fhir/hooks.js';
import type { ParamResolver } from '../fhir/search/search-parameters.js';
import type { Database } from '../fhir/storage/database.js';
import type { Logger } from '../logger.js';
import { authenticate } from './authenticate.js';
import { type RegistryWatch, watchRegistry } from './client-registry.js';
import { createJwksCache } from './jwks-cache.js';
import { OAuthError } from './oauth-error.js';
import { registerScopeEnforcement } from './scope-enforcement.js';
import { loadServerKey, type ServerKey } from './server-key.js';
import {
  capabilitySecurity,
  JWKS_PATH,
  smartConfiguration,
  TOKEN_PATH,
} from './smart-configuration.js';
import { requestToken } from './token-endpoint.js';

/** What authorization reads from configuration (`Config.auth`). */
export type AuthSettings = AuthConfig;

export interface Auth {
  /** Public endpoints, mounted at the FHIR base: SMART configuration, token, JWKS. */
  router: express.Router;
  /** Bearer token -> Principal, for every FHIR route but metadata. */
  authenticate: RequestHandler;
  /** Scope enforcement on the core's hook points. */
  registerHooks(hooks: FhirHooks): void;
  /** CapabilityStatement `rest.security`. */
  security: typeof capabilitySecurity;
  registry: RegistryWatch;
  serverKey: ServerKey;
}

export interface CreateAuthOptions {
  settings: AuthSettings;
  db: Database;
  params: ParamResolver;
  isType: (t: string) => boolean;
  logger: Logger;
  /** The FHIR base URL clients see; derived from each request when undefined. */
  publicBaseUrl: string | undefined;
}

/** Builds SMART authorization once at start-up; a broken registry file stops the start. */
export async function createAuth({
  settings,
  db,
  params,
  isType,
  logger,
  publicBaseUrl,
}: CreateAuthOptions): Promise<Auth> {
  const serverKey = await loadServerKey(settings.signingKeyFile);
  const registry = watchRegistry(settings.registryFile, (err) =>
    logger.error({ err: err.message }, 'auth registry file is invalid; keeping the last good one'),
  );
  await registry.current();
  const jwks = createJwksCache({ ttlMs: settings.jwksCacheSeconds * 1000, refetchMs: 30_000 });
  // Mounted at the FHIR base like the FHIR router, so both derive the same base URL.
  const baseUrlOf = (req: Request) =>
    publicBaseUrl ?? `${req.protocol}://${req.get('host')}${req.baseUrl}`;

  const router = express.Router({ caseSensitive: true });
  router.get('/.well-known/smart-configuration', (req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json(smartConfiguration(baseUrlOf(req)));
  });
  router.get(JWKS_PATH, (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json(serverKey.jwks);
  });
  router.post(
    TOKEN_PATH,
    express.urlencoded({ extended: false, limit: '64kb' }),
    async (req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      try {
        if (!req.is('application/x-www-form-urlencoded'))
          throw new OAuthError(
            'invalid_request',
            'the body must be application/x-www-form-urlencoded',
          );
        const baseUrl = baseUrlOf(req);
        const token = await requestToken(
          (req.body ?? {}) as Record<string, unknown>,
          { baseUrl, tokenUrl: `${baseUrl}${TOKEN_PATH}` },
          {
            pool: db.pool,
            serverKey,
            registry,
            jwks,
            isType,
            tokenLifetimeSeconds: settings.tokenLifetimeSeconds,
          },
        );
        logger.info({ clientId: req.body.client_id ?? undefined, status: 200 }, 'token issued');
        res.json(token);
      } catch (err) {
        if (err instanceof OAuthError) {
          logger.info({ error: err.error, status: err.status }, 'token refused');
          res.status(err.status).json(err.body);
          return;
        }
        logger.error({ err }, 'token endpoint failed');
        res.status(500).json({ error: 'server_error', error_description: 'internal error' });
      }
    },
  );
  // Methods other than POST at the token endpoint are a client error, not a FHIR read of type "auth".
  router.all(TOKEN_PATH, (_req, res) => {
    res.setHeader('Allow', 'POST');
    res.status(405).json({ error: 'invalid_request', error_description: 'use POST' });
  });

  return {
    router,
    authenticate: authenticate({ serverKey, registry, jwks, isType }, baseUrlOf),
    registerHooks: (hooks) => registerScopeEnforcement(hooks, params),
    security: capabilitySecurity,
    registry,
    serverKey,
  };
}
