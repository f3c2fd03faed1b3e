import { tryGetDataType } from '@medplum/core';
import type { Resource } from 'fhir/r4.js';

const SUBSETTED = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
};

/**
 * `_summary` (true, text, data) and `_elements`: keeps the requested elements plus
 * what a resource cannot be without (id, meta, mandatory elements) and tags the
 * result SUBSETTED.
 */
export function subset(
  resource: Resource,
  summary: string | undefined,
  elements: string[] | undefined,
): Resource {
  if ((!summary || summary === 'false' || summary === 'count') && !elements) return resource;
  const schema = tryGetDataType(resource.resourceType);
  const mandatory = schema?.mandatoryProperties ?? new Set<string>();
  const source = resource as unknown as Record<string, unknown>;
  let keep: (name: string) => boolean;
  if (elements) {
    const wanted = new Set(elements);
    keep = (name) => wanted.has(name) || mandatory.has(name);
  } else if (summary === 'true') {
    const summaryProps = schema?.summaryProperties ?? new Set<string>();
    keep = (name) =>
      summaryProps.has(name.replace(/^_/, '')) || summaryProps.has(choiceBase(name, summaryProps));
  } else if (summary === 'text') {
    keep = (name) => name === 'text' || mandatory.has(name);
  } else {
    keep = (name) => name !== 'text';
  }
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(source)) {
    if (name === 'resourceType' || name === 'id' || name === 'meta' || keep(name))
      out[name] = value;
  }
  const meta = { ...(resource.meta ?? {}) };
  meta.tag = [...(meta.tag ?? []), SUBSETTED];
  out.meta = meta;
  return out as unknown as Resource;
}

/** `valueQuantity` is summarised as `value[x]` in the schema. */
function choiceBase(name: string, props: Set<string>): string {
  for (const p of props) if (p.endsWith('[x]') && name.startsWith(p.slice(0, -3))) return p;
  return name;
}
