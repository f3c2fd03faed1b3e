import { randomUUID } from 'node:crypto';
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import type { Logger } from '../../logger.js';
import { FhirError, issue } from '../errors.js';
import type { FhirRequest, Services } from '../interactions/types.js';
import { errorHandler } from './error-handler.js';
import { FORM, JSON_PATCH, negotiate } from './negotiate.js';
import { send } from './send.js';

export interface FhirRouterOptions {
  services: Services;
  logger: Logger;
  maxBodyBytes: number;
  publicBaseUrl: string | undefined;
  /** Establishes `res.locals.principal` or refuses the request (401); runs before every route. */
  authenticate: RequestHandler;
}

/** Mounts the route table under the FHIR base; everything else under it is a 404/405 OperationOutcome. */
export function fhirRouter({
  services,
  logger,
  maxBodyBytes,
  publicBaseUrl,
  authenticate,
}: FhirRouterOptions): express.Router {
  const router = express.Router({ caseSensitive: true });
  router.use((req, res, next) => {
    const given = req.get('x-request-id');
    const requestId = given && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    next();
  });
  router.use(negotiate);
  router.use(authenticate);
  router.use(
    express.json({
      limit: maxBodyBytes,
      type: ['application/fhir+json', 'application/json', 'application/json+fhir', JSON_PATCH],
      strict: false,
    }),
  );
  // POST [type]/_search carries its parameters form-encoded; kept raw to preserve order and repeats.
  router.use(express.text({ type: FORM, limit: maxBodyBytes }));

  for (const route of services.routes) {
    const method = route.method.toLowerCase() as 'get' | 'post' | 'put' | 'patch' | 'delete';
    router[method](route.path, async (req: Request, res: Response, next: NextFunction) => {
      const started = process.hrtime.bigint();
      const fhirRequest = toFhirRequest(req, res, publicBaseUrl);
      // 'close', not 'finish': a client that hangs up mid-response was still served (and audited).
      res.once('close', () => {
        const outcome = {
          status: res.statusCode,
          method: route.method,
          interaction: route.interaction,
          resourceType: services.definitions.isResourceType(req.params.type as string)
            ? (req.params.type as string)
            : undefined,
          url: fhirRequest.url,
          clientAddress: req.ip,
        };
        // Interaction and type only: ids and query strings can identify a patient.
        logger.info(
          {
            requestId: res.locals.requestId,
            status: outcome.status,
            method: outcome.method,
            interaction: outcome.interaction,
            resourceType: outcome.resourceType,
            ms: Number(process.hrtime.bigint() - started) / 1e6,
          },
          'request',
        );
        const failed = (err: unknown) =>
          logger.error({ err, requestId: res.locals.requestId }, 'afterRequest hook failed');
        for (const listener of services.hooks.afterRequest) {
          try {
            listener(fhirRequest.ctx, outcome)?.catch(failed);
          } catch (err) {
            failed(err);
          }
        }
      });
      try {
        send(req, res, await route.handler(fhirRequest, services));
      } catch (err) {
        next(err);
      }
    });
  }

  const knownPaths = [...new Set(services.routes.map((r) => r.path))];
  router.use((req, _res, next) => {
    const allowed = services.routes.filter((r) => matches(r.path, req.path)).map((r) => r.method);
    if (allowed.length > 0) {
      return next(
        new FhirError(405, [
          issue(
            'not-supported',
            `${req.method} is not supported here; allowed: ${[...new Set(allowed)].join(', ')}`,
          ),
        ]),
      );
    }
    next(
      new FhirError(404, [
        issue('not-found', `No FHIR interaction at this path (known: ${knownPaths.length} routes)`),
      ]),
    );
  });
  router.use(errorHandler(logger));
  return router;
}

function toFhirRequest(
  req: Request,
  res: Response,
  publicBaseUrl: string | undefined,
): FhirRequest {
  const params = req.params as Record<string, string | undefined>;
  return {
    resourceType: params.type,
    id: params.id,
    versionId: params.vid,
    query: req.query as FhirRequest['query'],
    body: req.body,
    header: (name) => req.get(name),
    baseUrl: publicBaseUrl ?? `${req.protocol}://${req.get('host')}${req.baseUrl}`,
    url: req.url,
    ctx: {
      requestId: res.locals.requestId as string,
      principal: res.locals.principal,
      xProvenance: req.get('x-provenance'),
    },
  };
}

const patternCache = new Map<string, RegExp>();
function matches(path: string, actual: string): boolean {
  let re = patternCache.get(path);
  if (!re) {
    re = new RegExp(`^${path.replace(/\$/g, '\\$').replace(/:[a-z]+/g, '[^/]+')}/?$`);
    patternCache.set(path, re);
  }
  return re.test(actual);
}
