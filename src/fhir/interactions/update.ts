import { randomUUID } from 'node:crypto';
import type { Resource } from 'fhir/r4.js';
import { badRequest, preconditionFailed } from '../errors.js';
import { runBeforeOperation } from '../hooks.js';
import { findMatches } from '../search/find-matches.js';
import type { Writer } from '../storage/resource-store.js';
import {
  assertValid,
  parseETagVersion,
  requireType,
  resourceBody,
  versionHeaders,
} from './common.js';
import type { Handler, Services, WriteResult } from './types.js';

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
  assertIdMatches(resource, req.id!);
  assertValid(resource, services);
  const ifMatch = req.header('if-match');
  const result = await services.store.transaction(req.ctx, (writer) =>
    updateVersion(
      writer,
      type,
      req.id!,
      resource,
      ifMatch === undefined ? undefined : parseETagVersion(ifMatch, 'If-Match'),
    ),
  );
  return {
    status: result.status,
    resource: result.resource,
    headers: versionHeaders(result.version, req.baseUrl, true),
    honourPrefer: true,
  };
};

/** An update's body must carry the id of the URL. */
export function assertIdMatches(resource: Resource, id: string): void {
  if (resource.id === undefined) throw badRequest('The resource must carry its id on update', 'id');
  if (resource.id !== id) {
    throw badRequest(`Resource id "${resource.id}" does not match the URL id "${id}"`, 'id');
  }
}

/**
 * Writes the next version of `type/id` (201 when it creates the resource); a patch
 * (`method` PATCH) is written here too, so it is an update for every hook.
 */
export async function updateVersion(
  writer: Writer,
  type: string,
  id: string,
  resource: Resource,
  ifMatch?: number,
  method: 'PUT' | 'PATCH' = 'PUT',
): Promise<WriteResult> {
  const { version, created } = await writer.write({
    resourceType: type,
    id,
    method,
    resource: { ...resource, id },
    ifMatch,
  });
  return { status: created ? 201 : 200, version, resource: version.resource };
}

/**
 * The id a conditional update (`PUT [type]?query`) writes to: the single match;
 * with no match the resource's own id (create-on-update) or a new one; several
 * matches are a 412, a body id other than the match a 400.
 */
/**
 * The single live match of a conditional write's criteria (undefined for none), with writes of
 * the same criteria serialised until commit; more than one match is a 412.
 */
export async function conditionalMatch(
  writer: Writer,
  services: Services,
  type: string,
  query: string,
  write: 'update' | 'patch',
): Promise<string | undefined> {
  await writer.tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 1))', [
    `${type}?${query}`,
  ]);
  const ids = await findMatches(services, writer.tx, type, query);
  if (ids.length > 1)
    throw preconditionFailed(`Conditional ${write} matched more than one ${type}`);
  return ids[0];
}

export async function conditionalUpdateId(
  writer: Writer,
  services: Services,
  type: string,
  query: string,
  resource: Resource,
): Promise<string> {
  const match = await conditionalMatch(writer, services, type, query, 'update');
  if (match === undefined) return resource.id ?? randomUUID();
  if (resource.id !== undefined && resource.id !== match) {
    throw badRequest(
      `Resource id "${resource.id}" differs from the ${type} the conditional update matched`,
      'id',
    );
  }
  return match;
}
