import jsonpatch, { type Operation } from 'fast-json-patch';
import type { Resource } from 'fhir/r4.js';
import {
  badRequest,
  gone,
  issue,
  notFound,
  notSupported,
  preconditionFailed,
  unprocessable,
} from '../errors.js';
import { masked, type RequestContext, runBeforeOperation, visible } from '../hooks.js';
import { FHIR_JSON, JSON_TYPES as FHIR_JSON_TYPES, JSON_PATCH } from '../http/negotiate.js';
import type { Writer } from '../storage/resource-store.js';
import { validateResource } from '../validation/validate-resource.js';
import { parseETagVersion, requireType, versionHeaders } from './common.js';
import { fhirPathPatch } from './fhirpath-patch.js';
import type { FhirRequest, Handler, Services } from './types.js';
import { conditionalMatch, updateVersion } from './update.js';

/** A parsed patch (JSON Patch or FHIRPath Patch), applied to a copy of the current version. */
export interface PatchDocument {
  /** The patched document (anything: it is checked to be the resource after); throws a FhirError. */
  apply(resource: Resource): unknown;
}

/**
 * PATCH [type]/[id] and PATCH [type]?query with a JSON Patch (RFC 6902): applied to the current
 * version, the result validated as an update is and written as the next version through the
 * update's path (same hooks: scopes, consent, Provenance, anchoring). The current version must
 * be visible to the caller (a `test` op or the returned representation would reveal it): a
 * hidden one is a 404, as on read. A FHIR JSON body is a FHIRPath Patch (a Parameters).
 */
export const patch: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(
    services.hooks,
    { interaction: 'patch', resourceType: type, id: req.id },
    req.ctx,
  );
  const document = patchBody(req);
  const ifMatchHeader = req.header('if-match');
  const ifMatch =
    ifMatchHeader === undefined ? undefined : parseETagVersion(ifMatchHeader, 'If-Match');
  const query = req.id === undefined ? conditionalQuery(req) : undefined;
  const result = await services.store.transaction(req.ctx, async (writer) => {
    const id = req.id ?? (await conditionalPatchId(writer, services, type, query!));
    const resource = await patchedResource(writer, services, req.ctx, type, id, document, ifMatch);
    return updateVersion(writer, type, id, resource, ifMatch, 'PATCH');
  });
  return {
    status: result.status,
    resource: result.resource && (await masked(services.hooks, result.resource, req.ctx)),
    headers: versionHeaders(result.version, req.baseUrl, true),
    honourPrefer: true,
  };
};

/** The request's JSON Patch or FHIRPath Patch; any other body type is a 415 naming both. */
function patchBody(req: FhirRequest): PatchDocument {
  const contentType = (req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType === JSON_PATCH) return jsonPatch(req.body);
  if (FHIR_JSON_TYPES.includes(contentType)) return fhirPathPatch(req.body);
  throw notSupported(
    415,
    `PATCH takes a JSON Patch (${JSON_PATCH}) or a FHIRPath Patch (${FHIR_JSON}); got ${contentType || '(none)'}`,
  );
}

/** A JSON Patch document (RFC 6902), checked for shape: 400 when malformed. */
export function jsonPatch(body: unknown): PatchDocument {
  const operations = parseJsonPatch(body);
  return { apply: (resource) => applyJsonPatch(resource, operations) };
}

/** `PATCH [type]?query`: the query string, which must name criteria. */
function conditionalQuery(req: FhirRequest): string {
  const query = req.url.split('?')[1] ?? '';
  if (query === '') throw badRequest('PATCH [type] needs an id or search criteria (?query)');
  return query;
}

/** A JSON Patch document checked for shape (op, path, from, value): 400 when malformed. */
function parseJsonPatch(body: unknown): Operation[] {
  if (!Array.isArray(body)) throw badRequest('A JSON Patch must be an array of operations');
  if (body.length === 0) throw badRequest('The JSON Patch has no operations');
  for (const [n, op] of body.entries()) {
    if (op === null || typeof op !== 'object' || Array.isArray(op)) {
      throw badRequest(`JSON Patch operation ${n} is not an object`);
    }
  }
  const error = jsonpatch.validate(body as Operation[]);
  if (error) throw badRequest(`JSON Patch operation ${error.index}: ${firstLine(error.message)}`);
  return body as Operation[];
}

/**
 * `PATCH [type]?query`: the single live match; none is a 404, several a 412 (as a
 * conditional update that matches several).
 */
export async function conditionalPatchId(
  writer: Writer,
  services: Services,
  type: string,
  query: string,
): Promise<string> {
  const match = await conditionalMatch(writer, services, type, query, 'patch');
  if (match === undefined) throw notFound(`Conditional patch matched no ${type}`);
  return match;
}

/**
 * The current version of `type/id` (locked until commit) with the patch applied: 404 when
 * absent or hidden from the caller, 410 when deleted, 412 when If-Match names another
 * version, 422 when an operation cannot be applied (a failing `test`, a path that does not
 * exist), when the result changes resourceType or id, or when it is not a valid resource.
 */
export async function patchedResource(
  writer: Writer,
  services: Services,
  ctx: RequestContext,
  type: string,
  id: string,
  document: PatchDocument,
  ifMatch: number | undefined,
): Promise<Resource> {
  const current = await writer.lockCurrent(type, id);
  if (!current) throw notFound(`${type}/${id} not found`);
  if (!current.resource) throw gone(`${type}/${id} was deleted`);
  if (!(await visible(services.hooks, current.resource, ctx))) {
    throw notFound(`${type}/${id} not found`);
  }
  if (ifMatch !== undefined && ifMatch !== current.versionId) {
    throw preconditionFailed(
      `If-Match version ${ifMatch} does not match current version ${current.versionId}`,
    );
  }
  const patched = document.apply(current.resource);
  if (patched === null || typeof patched !== 'object' || Array.isArray(patched)) {
    throw unprocessable([issue('processing', 'The patched document is not a resource')]);
  }
  const resource = patched as Resource;
  if (resource.resourceType !== type) {
    throw unprocessable([
      issue('processing', `A patch may not change resourceType (${type})`, 'resourceType'),
    ]);
  }
  if (resource.id !== id) {
    throw unprocessable([issue('processing', `A patch may not change the id (${id})`, 'id')]);
  }
  const result = validateResource(resource, services.definitions);
  if (!result.ok) throw unprocessable(result.issues);
  return resource;
}

function applyJsonPatch(resource: Resource, operations: Operation[]): unknown {
  try {
    return jsonpatch.applyPatch(resource, operations, true, false).newDocument;
  } catch (err) {
    if (err instanceof jsonpatch.JsonPatchError) {
      const at = err.index === undefined ? '' : ` (operation ${err.index})`;
      const code = err.name === 'TEST_OPERATION_FAILED' ? 'conflict' : 'processing';
      throw unprocessable([
        issue(code, `JSON Patch could not be applied${at}: ${firstLine(err.message)}`),
      ]);
    }
    // fast-json-patch refuses __proto__ / constructor paths with a TypeError.
    if (err instanceof TypeError && /__proto__|prototype/.test(err.message)) {
      throw badRequest(`JSON Patch refused: ${firstLine(err.message)}`);
    }
    throw err;
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}
