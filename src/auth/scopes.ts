/**
 * SMART scopes, v1 (`patient/Observation.read`, `user/*.*`, `system/*.write`) and
 * v2 (`patient/Observation.rs`, `user/Claim.cruds`, `system/*.r`), including v2
 * granular scopes with a query (`patient/Observation.rs?category=laboratory`).
 * Both versions parse to one shape: a context, a resource type or `*`, a set of
 * permissions out of c r u d s, and optional search parameter restrictions.
 */
export type ScopeContext = 'patient' | 'user' | 'system';
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

export interface Scope {
  context: ScopeContext;
  /** A resource type or `*`. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
  /** Granular restriction: every pair must match the resource (v2 `?param=value`). */
  query: ReadonlyArray<[string, string]>;
  /** The scope as written. */
  text: string;
}

const ORDER: Permission[] = ['c', 'r', 'u', 'd', 's'];
const V1: Record<string, Permission[]> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};
const SCOPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)(?:\?(.+))?$/;

/**
 * One scope string to a Scope; undefined for anything that is not a resource
 * scope (openid, fhirUser, launch/patient, offline_access, unknown or malformed).
 * `isType` rejects resource types the server does not know.
 */
export function parseScope(text: string, isType: (t: string) => boolean): Scope | undefined {
  const m = SCOPE.exec(text);
  if (!m) return undefined;
  const [, context, resourceType, perms, rawQuery] = m;
  if (resourceType !== '*' && !isType(resourceType!)) return undefined;
  let permissions: Permission[] | undefined = V1[perms!];
  if (permissions) {
    if (rawQuery !== undefined) return undefined; // queries exist only in v2
  } else {
    permissions = v2Permissions(perms!);
    if (!permissions) return undefined;
  }
  const query: Array<[string, string]> = [];
  if (rawQuery !== undefined) {
    for (const [k, v] of new URLSearchParams(rawQuery)) {
      if (!k || !v) return undefined;
      query.push([k, v]);
    }
  }
  return {
    context: context as ScopeContext,
    resourceType: resourceType!,
    permissions: new Set(permissions),
    query,
    text,
  };
}

/** v2 letters must appear in the order c r u d s, each at most once. */
function v2Permissions(letters: string): Permission[] | undefined {
  let at = 0;
  const out: Permission[] = [];
  for (const ch of letters) {
    const i = ORDER.indexOf(ch as Permission, at);
    if (i < 0) return undefined;
    out.push(ch as Permission);
    at = i + 1;
  }
  return out.length > 0 ? out : undefined;
}

/** Splits a space-separated scope parameter or claim. */
export function splitScopes(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter(Boolean);
}

export function parseScopes(value: string | undefined, isType: (t: string) => boolean): Scope[] {
  return splitScopes(value).flatMap((s) => parseScope(s, isType) ?? []);
}

/** The scope in its own notation: v1 where the permission set has a v1 name, else v2. */
export function formatScope(scope: Omit<Scope, 'text'>, preferV1: boolean): string {
  const letters = ORDER.filter((p) => scope.permissions.has(p)).join('');
  let perms = letters;
  if (preferV1 && scope.query.length === 0) {
    const v1 = Object.entries(V1).find(([, ps]) => ps.join('') === letters);
    if (v1) perms = v1[0];
  }
  const query = scope.query.length ? `?${new URLSearchParams([...scope.query])}` : '';
  return `${scope.context}/${scope.resourceType}.${perms}${query}`;
}

/**
 * What a client gets when it asks for `requested` and may have `allowed`: for
 * each requested scope, its overlap with each allowed scope of the same context
 * (narrower type, common permissions, both queries). Never more than allowed;
 * non-resource scopes are granted only when allowed verbatim.
 */
export function grantScopes(
  requested: string[],
  allowed: string[],
  isType: (t: string) => boolean,
): string[] {
  const allowedScopes = allowed.flatMap((s) => parseScope(s, isType) ?? []);
  const granted = new Set<string>();
  for (const text of requested) {
    const want = parseScope(text, isType);
    if (!want) {
      if (allowed.includes(text)) granted.add(text);
      continue;
    }
    const isV1 = !/\.[cruds]+(\?|$)/.test(text);
    for (const have of allowedScopes) {
      if (have.context !== want.context) continue;
      const resourceType =
        want.resourceType === '*'
          ? have.resourceType
          : have.resourceType === '*' || have.resourceType === want.resourceType
            ? want.resourceType
            : undefined;
      if (!resourceType) continue;
      const permissions = new Set([...want.permissions].filter((p) => have.permissions.has(p)));
      if (permissions.size === 0) continue;
      const query = mergeQueries(want.query, have.query);
      granted.add(formatScope({ context: want.context, resourceType, permissions, query }, isV1));
    }
  }
  return [...granted];
}

function mergeQueries(
  a: ReadonlyArray<[string, string]>,
  b: ReadonlyArray<[string, string]>,
): Array<[string, string]> {
  const out = [...a];
  for (const pair of b) if (!out.some(([k, v]) => k === pair[0] && v === pair[1])) out.push(pair);
  return out;
}
