import type { Resource } from 'fhir/r4.js';
import { badRequest } from '../errors.js';
import { runBeforeOperation } from '../hooks.js';
import {
  assertValid,
  parseETagVersion,
  requireType,
  resourceBody,
  versionHeaders,
} from './common.js';
import type { Handler } from './types.js';

/**
 * PUT [type]/[id]: a new version, or the first one under the client's id
 * (create-on-update, 201). `If-Match: W/"n"` makes it conditional on version n.
 */
export const update: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(
    services.hooks,
    { interaction: 'update', resourceType: type, id: req.id },
    req.ctx,
  );
  const resource = resourceBody(req, type);
  if (resource.id === undefined) throw badRequest('The resource must carry its id on update', 'id');
  if (resource.id !== req.id) {
    throw badRequest(`Resource id "${resource.id}" does not match the URL id "${req.id}"`, 'id');
  }
  assertValid(resource as Resource, services);
  const ifMatch = req.header('if-match');
  const { version, created } = await services.store.transaction(req.ctx, (writer) =>
    writer.write({
      resourceType: type,
      id: req.id!,
      method: 'PUT',
      resource,
      ifMatch: ifMatch === undefined ? undefined : parseETagVersion(ifMatch, 'If-Match'),
    }),
  );
  return {
    status: created ? 201 : 200,
    resource: version.resource,
    headers: versionHeaders(version, req.baseUrl, true),
    honourPrefer: true,
  };
};
