import type { Bundle, BundleEntry, Resource } from 'fhir/r4.js';
import { badRequest, FhirError, notSupported } from '../errors.js';
import { JSON_PATCH } from '../http/negotiate.js';
import { assertValid, parseETagVersion } from '../interactions/common.js';
import { withoutId } from '../interactions/create.js';
import { fhirPathPatch } from '../interactions/fhirpath-patch.js';
import { jsonPatch, type PatchDocument } from '../interactions/patch.js';
import type { Services } from '../interactions/types.js';
import { assertIdMatches } from '../interactions/update.js';
import { entryError } from './entry-error.js';
import { matchRoute, type RouteMatch } from './route-match.js';

/** One entry of a batch or transaction, checked and validated, nothing looked up yet. */
export type PlannedEntry = { index: number; fullUrl: string | undefined } & (
  | { method: 'POST'; type: string; resource: Resource; ifNoneExist: string | undefined }
  | {
      method: 'PUT';
      type: string;
      /** undefined for a conditional update (`query`). */
      id: string | undefined;
      query: string | undefined;
      resource: Resource;
      ifMatch: number | undefined;
    }
  | {
      method: 'PATCH';
      type: string;
      /** undefined for a conditional patch (`query`). */
      id: string | undefined;
      query: string | undefined;
      /** The JSON Patch of the entry's Binary, or its Parameters (FHIRPath Patch). */
      patch: PatchDocument;
      ifMatch: number | undefined;
    }
  | {
      method: 'DELETE';
      type: string;
      id: string | undefined;
      query: string | undefined;
      ifMatch: number | undefined;
    }
  | { method: 'GET' | 'HEAD'; url: string; match: RouteMatch; headers: Record<string, string> }
);

export type ReadEntry = Extract<PlannedEntry, { method: 'GET' | 'HEAD' }>;
export type ChangeEntry = Exclude<PlannedEntry, ReadEntry>;

export function isRead(entry: PlannedEntry): entry is ReadEntry {
  return entry.method === 'GET' || entry.method === 'HEAD';
}

/** A planned entry, or why that entry cannot be processed. */
export type EntryPlan = PlannedEntry | { index: number; error: FhirError };

/** The order the spec processes entries in: DELETE, POST, PUT/PATCH, GET/HEAD. */
export const METHOD_ORDER: Record<string, number> = {
  DELETE: 0,
  POST: 1,
  PUT: 2,
  PATCH: 2,
  GET: 3,
  HEAD: 3,
};

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The bundle's type, or a 400 when the body is not a batch or transaction Bundle. */
export function bundleType(body: unknown): 'batch' | 'transaction' {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('Request body must be a Bundle of type batch or transaction');
  }
  const { resourceType, type, entry } = body as Record<string, unknown>;
  if (resourceType !== 'Bundle') {
    throw badRequest(`Expected a Bundle, got ${String(resourceType)}`, 'resourceType');
  }
  if (type !== 'batch' && type !== 'transaction') {
    throw badRequest(
      `Bundle type must be batch or transaction to be processed; got ${String(type)}`,
      'Bundle.type',
    );
  }
  if (entry !== undefined && !Array.isArray(entry)) {
    throw badRequest('Bundle.entry must be an array', 'Bundle.entry');
  }
  return type;
}

/** Checks every entry of the bundle (request, url, resource validity) without touching the database. */
export function planEntries(bundle: Bundle, services: Services, baseUrl: string): EntryPlan[] {
  const fullUrls = new Set<string>();
  return (bundle.entry ?? []).map((entry, index) => {
    try {
      const planned = planEntry(entry, index, services, baseUrl);
      if (planned.fullUrl !== undefined && planned.method !== 'GET' && planned.method !== 'HEAD') {
        if (fullUrls.has(planned.fullUrl)) {
          throw badRequest(`fullUrl ${planned.fullUrl} appears in more than one entry`);
        }
        fullUrls.add(planned.fullUrl);
      }
      return planned;
    } catch (err) {
      if (err instanceof FhirError) return { index, error: entryError(index, entry, err) };
      throw err;
    }
  });
}

function planEntry(
  entry: BundleEntry,
  index: number,
  services: Services,
  baseUrl: string,
): PlannedEntry {
  if (entry === null || typeof entry !== 'object') throw badRequest('Entry must be an object');
  const { fullUrl, request } = entry;
  if (fullUrl !== undefined && (typeof fullUrl !== 'string' || fullUrl === '')) {
    throw badRequest('fullUrl must be a non-empty string');
  }
  if (request === null || typeof request !== 'object') {
    throw badRequest('Entry has no request (method and url)');
  }
  const { method } = request;
  if (typeof request.url !== 'string' || request.url.trim() === '') {
    throw badRequest('Entry request has no url');
  }
  const url = relativeUrl(request.url.trim(), baseUrl);
  const base = { index, fullUrl };
  switch (method) {
    case 'GET':
    case 'HEAD': {
      const match = matchRoute(services, 'GET', url);
      if (!match) throw badRequest(`No read interaction answers GET ${url}`);
      const headers: Record<string, string> = {};
      if (request.ifNoneMatch) headers['if-none-match'] = request.ifNoneMatch;
      if (request.ifModifiedSince) headers['if-modified-since'] = request.ifModifiedSince;
      return { ...base, method, url, match, headers };
    }
    case 'POST': {
      const { type, id, query } = target(url, services);
      if (id !== undefined || query !== undefined) {
        throw badRequest(`POST url must be a resource type; got ${url}`);
      }
      const resource = withoutId(entryResource(entry, type));
      assertValid(resource, services);
      const criteria = request.ifNoneExist;
      const ifNoneExist = criteria?.startsWith(`${type}?`)
        ? criteria.slice(type.length + 1)
        : criteria;
      return { ...base, method, type, resource, ifNoneExist: ifNoneExist || undefined };
    }
    case 'PUT': {
      const { type, id, query } = instanceTarget(url, services);
      const resource = entryResource(entry, type);
      if (id !== undefined) assertIdMatches(resource, id);
      assertValid(resource, services);
      return { ...base, method, type, id, query, resource, ifMatch: ifMatch(request.ifMatch) };
    }
    case 'DELETE': {
      const { type, id, query } = instanceTarget(url, services);
      return { ...base, method, type, id, query, ifMatch: ifMatch(request.ifMatch) };
    }
    case 'PATCH': {
      const { type, id, query } = instanceTarget(url, services);
      const patch = entryPatch(entry);
      return { ...base, method, type, id, query, patch, ifMatch: ifMatch(request.ifMatch) };
    }
    default:
      throw badRequest(`Unknown request method ${String(method)}`);
  }
}

/** `[base]/Patient/1` and `/Patient/1` to `Patient/1`; other absolute URLs are not ours. */
function relativeUrl(url: string, baseUrl: string): string {
  if (url.startsWith(`${baseUrl}/`)) return url.slice(baseUrl.length + 1);
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    throw badRequest(`Request url ${url} is not on this server (${baseUrl})`);
  }
  return url.replace(/^\/+/, '');
}

/** `Type`, `Type/id` or `Type?query` of a write entry. */
function target(url: string, services: Services) {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? undefined : url.slice(q + 1);
  const [type = '', id, ...rest] = path.split('/');
  if (!services.definitions.isResourceType(type)) {
    throw badRequest(`Unknown resource type "${type}" in request url`);
  }
  if (rest.length > 0 || (id !== undefined && !ID.test(id))) {
    throw badRequest(`Request url ${url} is not Type, Type/id or Type?query`);
  }
  if (id !== undefined && query !== undefined) {
    throw badRequest(`Request url ${url} has both an id and a query`);
  }
  if (query === '') throw badRequest(`Request url ${url} has an empty query`);
  return { type, id, query };
}

/** PUT and DELETE name one resource, by id or by search criteria. */
function instanceTarget(url: string, services: Services) {
  const found = target(url, services);
  if (found.id === undefined && found.query === undefined) {
    throw badRequest(`Request url ${url} must be Type/id or Type?query`);
  }
  return found;
}

function entryResource(entry: BundleEntry, type: string): Resource {
  const resource = entry.resource as unknown;
  if (resource === undefined || resource === null || typeof resource !== 'object') {
    throw badRequest('Entry has no resource');
  }
  const actual = (resource as { resourceType?: unknown }).resourceType;
  if (actual !== type) {
    throw badRequest(
      `resourceType "${String(actual)}" does not match the request url type ${type}`,
      'resourceType',
    );
  }
  return resource as Resource;
}

/**
 * The patch of a PATCH entry: a Parameters resource is a FHIRPath Patch; a JSON Patch is
 * carried, as R4 does, in a Binary whose contentType is application/json-patch+json and
 * whose data is the patch, base64.
 */
function entryPatch(entry: BundleEntry): PatchDocument {
  const resource = entry.resource as unknown as Record<string, unknown> | undefined;
  if (resource === undefined || resource === null || typeof resource !== 'object') {
    throw badRequest(
      `A PATCH entry carries a Parameters (FHIRPath Patch) or a Binary (${JSON_PATCH})`,
    );
  }
  if (resource.resourceType === 'Parameters') return fhirPathPatch(resource);
  const contentType = String(resource.contentType ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
  if (resource.resourceType !== 'Binary' || contentType !== JSON_PATCH) {
    throw notSupported(
      415,
      `A PATCH entry must carry a Parameters (FHIRPath Patch) or a Binary with contentType ${JSON_PATCH}`,
    );
  }
  const data = resource.data;
  if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data.replace(/\s/g, ''))) {
    throw badRequest('The PATCH Binary has no base64 data', 'Binary.data');
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(data, 'base64').toString('utf8'));
  } catch {
    throw badRequest('The PATCH Binary data is not JSON', 'Binary.data');
  }
  return jsonPatch(body);
}

function ifMatch(value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseETagVersion(value, 'ifMatch');
}
