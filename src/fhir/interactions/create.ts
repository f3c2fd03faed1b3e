import { randomUUID } from 'node:crypto';
import type { Resource } from 'fhir/r4.js';
import { preconditionFailed } from '../errors.js';
import { present, runBeforeOperation } from '../hooks.js';
import { assertValid, requireType, resourceBody, versionHeaders } from './common.js';
import { parseConditionalQuery } from './conditional-query.js';
import type { Handler } from './types.js';

/**
 * POST [type]: stores a new resource under a server-assigned id. With
 * `If-None-Exist`, an existing single match is returned instead (200) and two or
 * more matches are a 412.
 */
export const create: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(services.hooks, { interaction: 'create', resourceType: type }, req.ctx);
  // The spec has the server ignore a client id on create.
  const { id: _ignored, ...resource } = resourceBody(req, type);
  assertValid(resource as Resource, services);
  const ifNoneExist = req.header('if-none-exist');
  const criteria = ifNoneExist ? parseConditionalQuery(ifNoneExist, type, services) : undefined;

  return services.store.transaction(req.ctx, async (writer) => {
    if (criteria) {
      // Serialises concurrent conditional creates with the same criteria.
      await writer.tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 1))', [
        `${type}?${ifNoneExist}`,
      ]);
      const ids = await criteria.find(writer.tx);
      if (ids.length > 1) throw preconditionFailed(`If-None-Exist matched more than one ${type}`);
      if (ids.length === 1) {
        const existing = await writer.lockCurrent(type, ids[0]!);
        const shown =
          existing?.resource && (await present(services.hooks, existing.resource, req.ctx));
        // A match the caller may not see must not be revealed, nor duplicated.
        if (!existing || !shown)
          throw preconditionFailed(`If-None-Exist matched a ${type} you cannot see`);
        return {
          status: 200,
          resource: shown,
          headers: versionHeaders(existing, req.baseUrl, true),
          honourPrefer: true,
        };
      }
    }
    const { version } = await writer.write({
      resourceType: type,
      id: randomUUID(),
      method: 'POST',
      resource: resource as Resource,
      freshId: true,
    });
    return {
      status: 201,
      resource: version.resource,
      headers: versionHeaders(version, req.baseUrl, true),
      honourPrefer: true,
    };
  });
};
