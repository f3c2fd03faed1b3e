import { STATUS_CODES } from 'node:http';
import type { BundleEntry, BundleEntryResponse, Resource } from 'fhir/r4.js';
import { type FhirError, issue, outcome } from '../errors.js';
import type { StoredVersion } from '../hooks.js';
import type { FhirResponse, WriteResult } from '../interactions/types.js';

/** What processing one entry produced. */
export type EntryResult =
  | { kind: 'write'; result: WriteResult }
  | { kind: 'delete'; version: StoredVersion | undefined }
  | { kind: 'read'; response: FhirResponse; head: boolean }
  | { kind: 'error'; error: FhirError };

/** `return=minimal` (the default), `representation` or `OperationOutcome`, for write entries. */
export type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

export function returnPreference(prefer: string | undefined): ReturnPreference {
  const value = /return=(minimal|representation|OperationOutcome)/i.exec(prefer ?? '')?.[1];
  if (value?.toLowerCase() === 'representation') return 'representation';
  if (value?.toLowerCase() === 'operationoutcome') return 'OperationOutcome';
  return 'minimal';
}

/** One entry of the batch-response or transaction-response Bundle. */
export function responseEntry(
  result: EntryResult,
  baseUrl: string,
  preference: ReturnPreference,
): BundleEntry {
  switch (result.kind) {
    case 'write': {
      const { status, version, resource } = result.result;
      const path = `${version.resourceType}/${version.id}`;
      const response: BundleEntryResponse = {
        status: statusLine(status),
        location: `${path}/_history/${version.versionId}`,
        etag: `W/"${version.versionId}"`,
        lastModified: version.lastUpdated,
      };
      if (preference === 'OperationOutcome') {
        const message = `${status === 201 ? 'Created' : 'Stored'} ${response.location}`;
        response.outcome = outcome([issue('informational', message, undefined, 'information')]);
      }
      return {
        fullUrl: `${baseUrl}/${path}`,
        ...(preference === 'representation' && resource ? { resource } : {}),
        response,
      };
    }
    case 'delete':
      return {
        response: {
          status: statusLine(204),
          ...(result.version ? { etag: `W/"${result.version.versionId}"` } : {}),
        },
      };
    case 'read': {
      const { status, resource, headers = {} } = result.response;
      const lastModified =
        resource?.meta?.lastUpdated ??
        (headers['Last-Modified'] && new Date(headers['Last-Modified']).toISOString());
      return {
        ...(resource?.id && resource.resourceType !== 'Bundle'
          ? { fullUrl: `${baseUrl}/${resource.resourceType}/${resource.id}` }
          : {}),
        ...(resource && !result.head && status !== 304 ? { resource: resource as Resource } : {}),
        response: {
          status: statusLine(status),
          ...(headers.ETag ? { etag: headers.ETag } : {}),
          ...(lastModified ? { lastModified } : {}),
        },
      };
    }
    case 'error':
      return {
        response: { status: statusLine(result.error.status), outcome: result.error.outcome },
      };
  }
}

/** 201 -> `201 Created`. */
export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trim();
}
