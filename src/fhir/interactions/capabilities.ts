import type {
  CapabilityStatement,
  CapabilityStatementRest,
  CapabilityStatementRestResource,
} from 'fhir/r4.js';
import type { Handler, Route, Services } from './types.js';

type TypeInteraction = NonNullable<CapabilityStatementRestResource['interaction']>[number]['code'];
type SystemInteraction = NonNullable<CapabilityStatementRest['interaction']>[number]['code'];

/** GET /metadata: generated from the route table, so it lists exactly what is served. */
export const capabilities: Handler = async (req, services) => ({
  status: 200,
  resource: capabilityStatement(services, req.baseUrl),
});

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
  const typeOperations = operations(routes.filter((r) => r.level !== 'system'));
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
    rest: [
      {
        mode: 'server',
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
          operation: typeOperations,
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
