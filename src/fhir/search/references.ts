const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;
const ABSOLUTE = /\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/** `Patient/1`, `Patient/1/_history/2` or an absolute URL ending in them; undefined otherwise. */
export function parseReference(reference: string): { type: string; id: string } | undefined {
  const m =
    RELATIVE.exec(reference) ?? (/^https?:\/\//.test(reference) ? ABSOLUTE.exec(reference) : null);
  return m ? { type: m[1]!, id: m[2]! } : undefined;
}

/**
 * A copy with every absolute `reference` ending in Type/id rewritten to Type/id; the value
 * itself when it has none (most resources), which spares a deep copy.
 */
export function relativeReferences<T>(value: T): T {
  return hasAbsoluteReference(value) ? rewritten(value) : value;
}

function isAbsolute(key: string, value: unknown): value is string {
  return key === 'reference' && typeof value === 'string' && value.includes('://');
}

function hasAbsoluteReference(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasAbsoluteReference);
  if (!value || typeof value !== 'object') return false;
  for (const [k, v] of Object.entries(value)) {
    if (isAbsolute(k, v) ? parseReference(v) !== undefined : hasAbsoluteReference(v)) return true;
  }
  return false;
}

function rewritten<T>(value: T): T {
  if (Array.isArray(value)) return value.map(rewritten) as T;
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const local = isAbsolute(k, v) ? parseReference(v) : undefined;
    out[k] = local ? `${local.type}/${local.id}` : rewritten(v);
  }
  return out as T;
}
