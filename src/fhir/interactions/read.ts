import { gone, notFound } from '../errors.js';
import { present, runBeforeOperation } from '../hooks.js';
import { parseETagVersion, requireType, versionHeaders } from './common.js';
import type { Handler } from './types.js';

/** GET [type]/[id]: the current version; 410 when deleted, 304 for a matching If-None-Match. */
export const read: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(
    services.hooks,
    { interaction: 'read', resourceType: type, id: req.id },
    req.ctx,
  );
  const current = await services.store.current(type, req.id!);
  if (!current) throw notFound(`${type}/${req.id} not found`);
  if (!current.resource) throw gone(`${type}/${req.id} was deleted`);
  const resource = await present(services.hooks, current.resource, req.ctx);
  if (!resource) throw notFound(`${type}/${req.id} not found`);
  const headers = versionHeaders(current, req.baseUrl);
  const ifNoneMatch = req.header('if-none-match');
  if (ifNoneMatch && parseETagVersion(ifNoneMatch, 'If-None-Match') === current.versionId) {
    return { status: 304, headers };
  }
  return { status: 200, resource, headers };
};
