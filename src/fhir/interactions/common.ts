import type { Resource } from 'fhir/r4.js';
import { badRequest, FhirError, issue, notFound } from '../errors.js';
import type { StoredVersion } from '../hooks.js';
import { validateResource } from '../validation/validate-resource.js';
import type { FhirRequest, Services } from './types.js';

export function requireType(req: FhirRequest, services: Services): string {
  const type = req.resourceType!;
  if (!services.definitions.isResourceType(type)) {
    throw new FhirError(404, [issue('not-supported', `Unknown resource type "${type}"`)]);
  }
  return type;
}

/** The request body as a resource of the expected type, or a 400 saying what is wrong. */
export function resourceBody(req: FhirRequest, expectedType: string): Resource {
  const body = req.body;
  if (
    body === undefined ||
    body === null ||
    (typeof body === 'object' && Object.keys(body).length === 0 && !Array.isArray(body))
  ) {
    throw badRequest('Request body must be a FHIR resource');
  }
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('Request body must be a JSON object');
  }
  const type = (body as { resourceType?: unknown }).resourceType;
  if (type === undefined) throw badRequest('Missing resourceType', 'resourceType');
  if (type !== expectedType) {
    throw badRequest(
      `resourceType "${String(type)}" does not match the URL type ${expectedType}`,
      'resourceType',
    );
  }
  return body as Resource;
}

/** Validates against the R4 definitions; errors are a 400 listing every issue. */
export function assertValid(resource: Resource, services: Services): void {
  const result = validateResource(resource, services.definitions);
  if (!result.ok) throw new FhirError(400, result.issues);
}

/** `W/"3"` or `"3"` to 3; anything else is a client error. */
export function parseETagVersion(value: string, header: string): number {
  const m = /^(?:W\/)?"(\d+)"$/.exec(value.trim());
  if (!m) throw badRequest(`${header} must be an ETag like W/"3"; got ${value}`);
  return Number(m[1]);
}

export function parseVersionId(raw: string | undefined): number {
  if (!raw || !/^[1-9]\d{0,9}$/.test(raw)) throw notFound(`Version "${raw}" not found`);
  return Number(raw);
}

export function versionHeaders(
  version: Pick<StoredVersion, 'resourceType' | 'id' | 'versionId' | 'lastUpdated'>,
  baseUrl: string,
  withLocation = false,
): Record<string, string> {
  const headers: Record<string, string> = {
    ETag: `W/"${version.versionId}"`,
    'Last-Modified': new Date(version.lastUpdated).toUTCString(),
  };
  if (withLocation) {
    headers.Location = `${baseUrl}/${version.resourceType}/${version.id}/_history/${version.versionId}`;
  }
  return headers;
}

export function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[value.length - 1] : value;
}
