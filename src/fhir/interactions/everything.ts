import type {
  Bundle,
  BundleEntry,
  OperationOutcome,
  OperationOutcomeIssue,
  Parameters,
} from 'fhir/r4.js';
import { badRequest, FhirError, gone, issue, notFound } from '../errors.js';
import {
  activeFilters,
  masked,
  prepareCandidates,
  present,
  runBeforeOperation,
  visible,
} from '../hooks.js';
import { loadIncludes } from '../search/includes.js';
import { DEFAULT_COUNT, type Filter, MAX_COUNT, searchRequest } from '../search/parse-query.js';
import { patientCompartmentParams } from '../search/patient-compartment-definition.js';
import { runSearch } from '../search/run-search.js';
import { INSTANT } from './history.js';
import { candidateFilter, pagingLinks, queryPairs } from './search.js';
import type { FhirRequest, Handler, Services } from './types.js';

/** Every type `$everything` can return: Patient and the types of its compartment, sorted. */
const COMPARTMENT_TYPES = [...new Set(['Patient', ...patientCompartmentParams.keys()])].sort();
const IGNORED_PARAMS = new Set(['start', 'end']);
const FORMAT_PARAMS = new Set(['_format', '_pretty']);

/** What the operation's parameters say, checked. */
interface EverythingQuery {
  /** `_type`, or undefined for every compartment type. */
  types: string[] | undefined;
  since: string | undefined;
  count: number;
  cursor: string | undefined;
  ignored: OperationOutcomeIssue[];
  /** The parameters as understood, for the paging links. */
  canonical: Array<[string, string]>;
}

/**
 * GET and POST Patient/[id]/$everything (http://hl7.org/fhir/R4/patient-operation-everything.html):
 * a searchset of the Patient and every resource in its compartment (the R4 Patient
 * CompartmentDefinition), run as one search over those types, so every candidate goes through
 * the same filters (scopes, consent) before paging and totals. The resources of other types
 * that a page's matches reference are added as `include` entries (not counted in the total). Types the caller may not see at
 * all (no scope) are left out of the query; nothing visible and the Patient hidden is a 404,
 * as a denied read: an empty searchset would confirm that the patient exists.
 */
export const patientEverything: Handler = async (req, services) => {
  const id = req.id!;
  await runBeforeOperation(
    services.hooks,
    { interaction: 'everything', resourceType: 'Patient', id },
    req.ctx,
  );
  const strict = /handling=strict/i.test(req.header('prefer') ?? '');
  const query = parseEverything(req, services, strict);
  const missing = notFound(`Patient/${id} not found`);
  const patient = await services.store.current('Patient', id);
  if (!patient) throw missing;
  if (!patient.resource) throw gone(`Patient/${id} was deleted`);

  const filters = activeFilters(services.hooks, req.ctx);
  const seen = COMPARTMENT_TYPES.filter(
    (type) => !filters.some((f) => f.excludesType?.(type, req.ctx)),
  );
  const types = query.types ? query.types.filter((t) => seen.includes(t)) : seen;
  if (types.length === 0) {
    throw new FhirError(403, [
      issue('forbidden', 'The caller may see none of the resource types requested'),
    ]);
  }
  const compartment = compartmentFilter(id, types);
  const since: Filter[] = query.since
    ? [
        {
          kind: 'param',
          resourceType: 'Patient',
          param: services.params.get('Patient', '_lastUpdated')!,
          modifier: undefined,
          values: [`ge${query.since}`],
        },
      ]
    : [];
  const request = searchRequest(types, {
    filters: [compartment, ...since],
    // By type, then id: the keyset stays exact when two types share an id.
    sort: [{ code: '_type', param: undefined, descending: false }],
    count: query.count,
    cursor: query.cursor,
    ignored: query.ignored,
    canonical: query.canonical,
  });
  const filter = candidateFilter(services.hooks, req.ctx);
  const page = await runSearch(services.db.pool, request, services.params, filter, req.ctx);
  if (page.matches.length === 0 && filter) {
    // Nothing to show: only someone who may see this patient's data learns that it exists.
    const shown =
      (await visible(services.hooks, patient.resource, req.ctx)) ||
      (await anyVisible(services, req, id, seen));
    if (!shown) throw missing;
  }
  if (!filter) {
    const matches = page.matches.map((m) => m.resource);
    await prepareCandidates(services.hooks, matches, req.ctx);
  }
  const entry: BundleEntry[] = [];
  for (const match of page.matches) {
    const resource = await masked(services.hooks, match.resource, req.ctx);
    entry.push({
      fullUrl: `${req.baseUrl}/${resource.resourceType}/${resource.id}`,
      resource,
      search: { mode: 'match' },
    });
  }
  // What the page's resources reference outside every patient's compartment (Practitioner,
  // Organization, Medication, Location ...), one hop, shown to whoever may see it.
  const referenced = await loadIncludes(
    services.db.pool,
    page.matches.map((m) => m.resource),
    [{ sourceType: '*', param: undefined, targetType: undefined, iterate: false }],
    [],
    async (r) =>
      COMPARTMENT_TYPES.includes(r.resourceType) ? undefined : present(services.hooks, r, req.ctx),
  );
  for (const resource of referenced) {
    entry.push({
      fullUrl: `${req.baseUrl}/${resource.resourceType}/${resource.id}`,
      resource,
      search: { mode: 'include' },
    });
  }
  if (query.ignored.length > 0) {
    const outcome: OperationOutcome = { resourceType: 'OperationOutcome', issue: query.ignored };
    entry.push({ resource: outcome, search: { mode: 'outcome' } });
  }
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(page.total !== undefined ? { total: page.total } : {}),
    link: pagingLinks(page, request, `${req.baseUrl}/Patient/${id}/$everything`),
    entry,
  };
  return { status: 200, resource: bundle };
};

/** The Patient and the members of its compartment among `types`. */
function compartmentFilter(patientId: string, types: string[]): Filter {
  return {
    kind: 'compartment',
    patientId,
    members: types.map((resourceType) => ({
      resourceType,
      params: patientCompartmentParams.get(resourceType) ?? [],
    })),
  };
}

/** Whether the caller may see at least one resource of the compartment, whatever the query. */
async function anyVisible(
  services: Services,
  req: FhirRequest,
  patientId: string,
  types: string[],
): Promise<boolean> {
  const probe = await runSearch(
    services.db.pool,
    searchRequest(types, {
      filters: [compartmentFilter(patientId, types)],
      count: 0,
      total: 'none',
    }),
    services.params,
    candidateFilter(services.hooks, req.ctx),
    req.ctx,
  );
  return probe.more;
}

/**
 * `_since`, `_type`, `_count` and the paging `_cursor`, from the query and, for POST, a
 * Parameters body. `start` and `end` (care dates: which dates of which types is left to each
 * server) are not supported: ignored and reported in an OperationOutcome entry, as unknown
 * parameters are, or refused with `Prefer: handling=strict`.
 */
function parseEverything(req: FhirRequest, services: Services, strict: boolean): EverythingQuery {
  const query: EverythingQuery = {
    types: undefined,
    since: undefined,
    count: DEFAULT_COUNT,
    cursor: undefined,
    ignored: [],
    canonical: [],
  };
  for (const [key, value] of [...queryPairs(req), ...bodyPairs(req.body)]) {
    if (FORMAT_PARAMS.has(key)) continue;
    switch (key) {
      case '_since':
        if (!INSTANT.test(value)) {
          throw badRequest(
            '_since must be an instant with a time zone, e.g. 2024-01-31T10:00:00Z',
            '_since',
          );
        }
        query.since = value;
        break;
      case '_type': {
        const types = value.split(',').map((t) => t.trim());
        for (const type of types) {
          if (!services.definitions.isResourceType(type))
            throw badRequest(`Unknown resource type "${type}" in _type`, '_type');
          if (!COMPARTMENT_TYPES.includes(type)) {
            throw badRequest(
              `${type} is not in the Patient compartment: $everything does not return it`,
              '_type',
            );
          }
        }
        query.types = [...new Set([...(query.types ?? []), ...types])];
        break;
      }
      case '_count':
        if (!/^\d+$/.test(value))
          throw badRequest('_count must be a non-negative integer', '_count');
        query.count = Math.min(Number(value), MAX_COUNT);
        break;
      case '_cursor':
        query.cursor = value;
        continue;
      default: {
        const reason = IGNORED_PARAMS.has(key)
          ? `${key} is not supported by this server's $everything`
          : `unknown parameter "${key}" of $everything`;
        if (strict) throw badRequest(reason, key);
        query.ignored.push(issue('not-supported', `Ignored ${key}: ${reason}`, key, 'warning'));
        continue;
      }
    }
    query.canonical.push([key, value]);
  }
  return query;
}

/** The parameters of a POST body: none, or a Parameters resource of primitive values. */
function bodyPairs(body: unknown): Array<[string, string]> {
  if (body === undefined || body === null || typeof body === 'string') return [];
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('The body of POST $everything must be a Parameters resource');
  }
  if (Object.keys(body).length === 0) return [];
  const parameters = body as Parameters;
  if (parameters.resourceType !== 'Parameters')
    throw badRequest('The body of POST $everything must be a Parameters resource', 'resourceType');
  return (parameters.parameter ?? []).map((p) => {
    const value = Object.entries(p).find(([k]) => k.startsWith('value'))?.[1];
    if (!p.name || (typeof value !== 'string' && typeof value !== 'number'))
      throw badRequest('Each parameter of $everything needs a name and a primitive value');
    return [p.name, String(value)];
  });
}
