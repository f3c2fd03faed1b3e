import { issue, outcome, preconditionFailed } from '../errors.js';
import type { StoredVersion } from '../hooks.js';
import { runBeforeOperation } from '../hooks.js';
import { findMatches } from '../search/find-matches.js';
import type { Writer } from '../storage/resource-store.js';
import { parseETagVersion, requireType, single } from './common.js';
import type { Handler, Services } from './types.js';

/**
 * DELETE [type]/[id]: writes a tombstone version (history keeps every earlier
 * version). Deleting what is absent or already deleted succeeds without a new
 * version, as the spec allows; with If-Match it is a 412.
 */
export const remove: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(
    services.hooks,
    { interaction: 'delete', resourceType: type, id: req.id },
    req.ctx,
  );
  const ifMatchHeader = req.header('if-match');
  const ifMatch =
    ifMatchHeader === undefined ? undefined : parseETagVersion(ifMatchHeader, 'If-Match');
  const deleted = await services.store.transaction(req.ctx, (writer) =>
    deleteVersion(writer, type, req.id!, ifMatch),
  );
  const headers: Record<string, string> = deleted ? { ETag: `W/"${deleted.versionId}"` } : {};
  const prefer = single(req.header('prefer'));
  if (prefer && /return=OperationOutcome/i.test(prefer)) {
    const message = deleted ? `Deleted ${type}/${req.id}` : `${type}/${req.id} did not exist`;
    return {
      status: 200,
      resource: outcome([issue('informational', message, undefined, 'information')]),
      headers,
    };
  }
  return { status: 204, headers };
};

/** The tombstone written for `type/id`, or undefined when there was nothing live to delete. */
export async function deleteVersion(
  writer: Writer,
  type: string,
  id: string,
  ifMatch?: number,
): Promise<StoredVersion | undefined> {
  const current = await writer.lockCurrent(type, id);
  if (!current?.resource) {
    if (ifMatch !== undefined) throw preconditionFailed(`${type}/${id} does not exist`);
    return undefined;
  }
  const { version } = await writer.write({
    resourceType: type,
    id,
    method: 'DELETE',
    resource: undefined,
    ifMatch,
  });
  return version;
}

/**
 * DELETE [type]?query: deletes the single match; no match succeeds without a
 * version, several are a 412 (this server deletes one resource at a time).
 */
export async function conditionalDelete(
  writer: Writer,
  services: Services,
  type: string,
  query: string,
  ifMatch?: number,
): Promise<StoredVersion | undefined> {
  const ids = await findMatches(services, writer.tx, type, query);
  if (ids.length > 1) throw preconditionFailed(`Conditional delete matched more than one ${type}`);
  if (ids.length === 0) {
    if (ifMatch !== undefined) throw preconditionFailed(`Conditional delete matched no ${type}`);
    return undefined;
  }
  return deleteVersion(writer, type, ids[0]!, ifMatch);
}
