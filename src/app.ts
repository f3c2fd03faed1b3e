import express, { type RequestHandler } from 'express';
import { fhirRouter } from './fhir/http/router.js';
import type { Services } from './fhir/interactions/types.js';
import type { Logger } from './logger.js';

export interface AppOptions {
  services: Services;
  logger: Logger;
  maxBodyBytes: number;
  publicBaseUrl: string | undefined;
  /** Public SMART endpoints (configuration, token, JWKS), mounted at the FHIR base. */
  authRouter: express.Router;
  /** Bearer token -> Principal for every FHIR route but metadata. */
  authenticate: RequestHandler;
}

/** The HTTP application: FHIR under /fhir, a health probe at /healthz. */
export function createApp(options: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.use('/fhir', options.authRouter);
  app.use('/fhir', fhirRouter(options));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found; the FHIR base is /fhir' });
  });
  return app;
}
