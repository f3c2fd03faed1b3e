import { notFound, notSupported } from '../errors.js';
import { activeFilters, present, runBeforeOperation } from '../hooks.js';
import { parseVersionId, requireType } from './common.js';
import { lastContent } from './history.js';
import type { Handler, Services } from './types.js';

function ledgerOf(services: Services) {
  if (!services.ledger) throw notSupported(501, 'This server does not anchor to a ledger');
  return services.ledger;
}

/** GET /$ledger: where the chain and the contracts are, for verifiers. */
export const ledgerInfo: Handler = async (req, services) => {
  await runBeforeOperation(services.hooks, { interaction: 'ledger' }, req.ctx);
  return { status: 200, resource: await ledgerOf(services).describe() };
};

/** GET [type]/[id]/_history/[vid]/$verify: recomputed hash, proof and on-chain anchoring of one version. */
export const verifyVersion: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(
    services.hooks,
    { interaction: 'verify', resourceType: type, id: req.id },
    req.ctx,
  );
  const ledger = ledgerOf(services);
  const version = await services.store.version(type, req.id!, parseVersionId(req.versionId));
  const missing = `${type}/${req.id}/_history/${req.versionId} not found`;
  if (!version) throw notFound(missing);
  // What the caller may not see, they may not verify either; a deletion by what it deleted.
  const filtered = activeFilters(services.hooks, req.ctx).length > 0;
  const content =
    version.resource ??
    (filtered ? await lastContent(services, type, req.id!, version.versionId) : undefined);
  if (content && !(await present(services.hooks, content, req.ctx))) throw notFound(missing);
  return { status: 200, resource: await ledger.verify(version) };
};
