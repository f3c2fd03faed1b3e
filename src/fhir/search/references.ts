const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;
const ABSOLUTE = /\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/** `Patient/1`, `Patient/1/_history/2` or an absolute URL ending in them; undefined otherwise. */
export function parseReference(reference: string): { type: string; id: string } | undefined {
  const m =
    RELATIVE.exec(reference) ?? (/^https?:\/\//.test(reference) ? ABSOLUTE.exec(reference) : null);
  return m ? { type: m[1]!, id: m[2]! } : undefined;
}

/** A copy with every absolute `reference` ending in Type/id rewritten to Type/id. */
export function relativeReferences<T>(value: T): T {
  if (Array.isArray(value)) return value.map(relativeReferences) as T;
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const parsed = k === 'reference' && typeof v === 'string' && v.includes('://');
    const local = parsed ? parseReference(v) : undefined;
    out[k] = local ? `${local.type}/${local.id}` : relativeReferences(v);
  }
  return out as T;
}
