import { randomUUID } from 'node:crypto';
import type { Resource } from 'fhir/r4.js';
import { preconditionFailed } from '../errors.js';
import { present, type RequestContext, runBeforeOperation } from '../hooks.js';
import { findMatches } from '../search/find-matches.js';
import type { Writer } from '../storage/resource-store.js';
import { assertValid, requireType, resourceBody, versionHeaders } from './common.js';
import type { Handler, Services, WriteResult } from './types.js';

/**
 * POST [type]: stores a new resource under a server-assigned id. With
 * `If-None-Exist`, an existing single match is returned instead (200) and two or
 * more matches are a 412.
 */
export const create: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(services.hooks, { interaction: 'create', resourceType: type }, req.ctx);
  const resource = withoutId(resourceBody(req, type));
  assertValid(resource, services);
  const ifNoneExist = req.header('if-none-exist');
  const result = await services.store.transaction(req.ctx, async (writer) => {
    const existing = ifNoneExist
      ? await matchIfNoneExist(writer, services, type, ifNoneExist, req.ctx)
      : undefined;
    return existing ?? createVersion(writer, type, resource);
  });
  return {
    status: result.status,
    resource: result.resource,
    headers: versionHeaders(result.version, req.baseUrl, true),
    honourPrefer: true,
  };
};

/**
 * The existing resource a conditional create (`If-None-Exist: query`) resolves to,
 * locked until commit; undefined when nothing matches, 412 for several matches.
 */
export async function matchIfNoneExist(
  writer: Writer,
  services: Services,
  type: string,
  query: string,
  ctx: RequestContext,
): Promise<WriteResult | undefined> {
  // Serialises concurrent conditional creates with the same criteria.
  await writer.tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 1))', [
    `${type}?${query}`,
  ]);
  const ids = await findMatches(services, writer.tx, type, query);
  if (ids.length > 1) throw preconditionFailed(`If-None-Exist matched more than one ${type}`);
  if (ids.length === 0) return undefined;
  const existing = await writer.lockCurrent(type, ids[0]!);
  const shown = existing?.resource && (await present(services.hooks, existing.resource, ctx));
  // A match the caller may not see must not be revealed, nor duplicated.
  if (!existing || !shown)
    throw preconditionFailed(`If-None-Exist matched a ${type} you cannot see`);
  return { status: 200, version: existing, resource: shown };
}

/** The spec has the server ignore a client id on create. */
export function withoutId(resource: Resource): Resource {
  const { id: _ignored, ...rest } = resource;
  return rest as Resource;
}

/** Writes version 1 of a new resource under a fresh server id. */
export async function createVersion(
  writer: Writer,
  type: string,
  resource: Resource,
  id: string = randomUUID(),
): Promise<WriteResult> {
  const { version } = await writer.write({
    resourceType: type,
    id,
    method: 'POST',
    resource: withoutId(resource),
    freshId: true,
  });
  return { status: 201, version, resource: version.resource };
}
