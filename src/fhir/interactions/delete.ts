import { issue, outcome, preconditionFailed } from '../errors.js';
import { runBeforeOperation } from '../hooks.js';
import { parseETagVersion, requireType, single } from './common.js';
import type { Handler } from './types.js';

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
  const deleted = await services.store.transaction(req.ctx, async (writer) => {
    const current = await writer.lockCurrent(type, req.id!);
    if (!current?.resource) {
      if (ifMatch !== undefined) throw preconditionFailed(`${type}/${req.id} does not exist`);
      return undefined;
    }
    const { version } = await writer.write({
      resourceType: type,
      id: req.id!,
      method: 'DELETE',
      resource: undefined,
      ifMatch,
    });
    return version;
  });
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
