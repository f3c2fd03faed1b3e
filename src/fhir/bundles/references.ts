/**
 * Rewrites, in place, every `reference` in a resource (at any depth) that names a
 * fullUrl of the bundle to the `Type/id` the entry was stored under. References
 * to anything else stay as they are.
 */
export function rewriteReferences(value: unknown, targets: ReadonlyMap<string, string>): void {
  if (targets.size === 0 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) rewriteReferences(item, targets);
    return;
  }
  const object = value as Record<string, unknown>;
  for (const key in object) {
    const child = object[key];
    if (key === 'reference' && typeof child === 'string') {
      const target = targets.get(child);
      if (target !== undefined) object[key] = target;
    } else if (child !== null && typeof child === 'object') {
      rewriteReferences(child, targets);
    }
  }
}
