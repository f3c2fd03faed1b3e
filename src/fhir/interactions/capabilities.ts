import type {
  CapabilityStatement,
  CapabilityStatementRest,
  CapabilityStatementRestResource,
} from 'fhir/r4.js';
import type { Handler, Route, Services } from './types.js';

type TypeInteraction = NonNullable<CapabilityStatementRestResource['interaction']>[number]['code'];
type SystemInteraction = NonNullable<CapabilityStatementRest['interaction']>[number]['code'];

/**
 * GET /metadata: generated from the route table, so it lists exactly what is served.
 * Built and serialised once per base URL (~1 MB of JSON: 146 types with their parameters).
 */
export const capabilities: Handler = async (req, services) => {
  const { statement, json } = cachedStatement(services, req.baseUrl);
  return { status: 200, resource: statement, serialized: json };
};

// The statement only changes with the code; building it walks every type's parameters.
interface Cached {
  statement: CapabilityStatement;
  json: string;
}
const cache = new WeakMap<Services, Map<string, Cached>>();
function cachedStatement(services: Services, baseUrl: string): Cached {
  const byBase = cache.get(services) ?? new Map<string, Cached>();
  cache.set(services, byBase);
  let cached = byBase.get(baseUrl);
  if (!cached) {
    const statement = capabilityStatement(services, baseUrl);
    cached = { statement, json: JSON.stringify(statement) };
    byBase.set(baseUrl, cached);
  }
  return cached;
}

export function capabilityStatement(services: Services, baseUrl: string): CapabilityStatement {
  const { routes } = services;
  const typeInteractions = unique(
    routes
      .filter((r) => r.level !== 'system' && !r.operation)
      .map((r) => r.interaction as TypeInteraction),
  );
  const systemInteractions = unique(
    routes
      .filter((r) => r.level === 'system' && !r.operation && r.interaction !== 'capabilities')
      .map((r) => r.interaction),
  );
  // A route path naming its type ("/Consent/$signing-request") is that type's alone.
  const typeOperations = (type: string) =>
    operations(
      routes.filter(
        (r) =>
          r.level !== 'system' && (r.path.startsWith('/:type') || r.path.startsWith(`/${type}/`)),
      ),
    );
  const revIncludes = reverseIncludes(services);
  const has = (code: string) => typeInteractions.includes(code as TypeInteraction);
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: services.software,
    implementation: { description: 'fhir-ledger FHIR R4 server', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    // The bodies PATCH takes: JSON Patch and FHIRPath Patch (a Parameters in FHIR JSON).
    ...(has('patch')
      ? { patchFormat: ['application/json-patch+json', 'application/fhir+json'] }
      : {}),
    rest: [
      {
        mode: 'server',
        ...(services.security ? { security: services.security(baseUrl) } : {}),
        resource: services.definitions.resourceTypes.map((type) => ({
          type: type as CapabilityStatementRestResource['type'],
          interaction: typeInteractions.map((code) => ({ code })),
          versioning: 'versioned-update',
          readHistory: has('vread'),
          updateCreate: has('update'),
          conditionalCreate: has('create'),
          conditionalRead: 'not-match',
          conditionalUpdate: false,
          conditionalDelete: 'not-supported',
          ...(has('search-type') ? searchCapabilities(services, type, revIncludes) : {}),
          operation: typeOperations(type),
        })),
        interaction: systemInteractions.map((code) => ({ code: code as SystemInteraction })),
      },
    ],
  };
}

function operations(routes: readonly Route[]) {
  const seen = new Map<string, string>();
  for (const r of routes) if (r.operation) seen.set(r.operation.name, r.operation.definition);
  return [...seen].map(([name, definition]) => ({ name, definition }));
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

/** Search parameters, _include and _revinclude values of one type, from the R4 definitions. */
function searchCapabilities(services: Services, type: string, revIncludes: Map<string, string[]>) {
  const params = services.params.all(type);
  return {
    searchParam: params.map((p) => ({
      name: p.code,
      type: p.type,
      ...(p.url ? { definition: p.url } : {}),
    })),
    searchInclude: params.filter((p) => p.type === 'reference').map((p) => `${type}:${p.code}`),
    searchRevInclude: revIncludes.get(type) ?? [],
  };
}

/** For each type, the `Source:param` pairs whose references can point at it. */
function reverseIncludes(services: Services): Map<string, string[]> {
  const byTarget = new Map<string, string[]>();
  for (const source of services.definitions.resourceTypes) {
    for (const p of services.params.all(source)) {
      if (p.type !== 'reference') continue;
      for (const target of p.targets) {
        const list = byTarget.get(target) ?? [];
        list.push(`${source}:${p.code}`);
        byTarget.set(target, list);
      }
    }
  }
  return byTarget;
}
