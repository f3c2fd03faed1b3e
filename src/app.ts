import express from 'express';
import { fhirRouter } from './fhir/http/router.js';
import type { Services } from './fhir/interactions/types.js';
import type { Logger } from './logger.js';

export interface AppOptions {
  services: Services;
  logger: Logger;
  maxBodyBytes: number;
  publicBaseUrl: string | undefined;
}

/** The HTTP application: FHIR under /fhir, a health probe at /healthz. */
export function createApp(options: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.use('/fhir', fhirRouter(options));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found; the FHIR base is /fhir' });
  });
  return app;
}
