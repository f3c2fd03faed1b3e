import { gone, notFound } from '../errors.js';
import { present, runBeforeOperation } from '../hooks.js';
import { parseVersionId, requireType, versionHeaders } from './common.js';
import type { Handler } from './types.js';

/** GET [type]/[id]/_history/[vid]: one version exactly as stored; 410 for a deletion. */
export const vread: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(
    services.hooks,
    { interaction: 'vread', resourceType: type, id: req.id },
    req.ctx,
  );
  const versionId = parseVersionId(req.versionId);
  const version = await services.store.version(type, req.id!, versionId);
  if (!version) throw notFound(`${type}/${req.id}/_history/${req.versionId} not found`);
  if (!version.resource) throw gone(`${type}/${req.id}/_history/${versionId} is a deletion`);
  const resource = await present(services.hooks, version.resource, req.ctx);
  if (!resource) throw notFound(`${type}/${req.id}/_history/${req.versionId} not found`);
  return { status: 200, resource, headers: versionHeaders(version, req.baseUrl) };
};
