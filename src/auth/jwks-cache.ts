import jose from 'node-jose';

export interface JwksCacheOptions {
  /** How long fetched keys are used before fetching again, ms. */
  ttlMs: number;
  /** A key id not in the cached set triggers a refetch at most this often, ms (key rotation). */
  refetchMs: number;
  fetch?: typeof globalThis.fetch;
  now?: () => number;
}

interface Entry {
  keys: jose.JWK.KeyStore;
  fetchedAt: number;
}

/**
 * Key sets fetched from `jwks_uri`s, cached per URL so that verification does
 * not fetch on every request; an unknown `kid` refetches (rate-limited) so a
 * rotated key is picked up. Concurrent misses share one fetch.
 */
export function createJwksCache({
  ttlMs,
  refetchMs,
  fetch = globalThis.fetch,
  now = Date.now,
}: JwksCacheOptions) {
  const entries = new Map<string, Entry>();
  const pending = new Map<string, Promise<Entry>>();

  const load = (uri: string): Promise<Entry> => {
    let p = pending.get(uri);
    if (!p) {
      p = (async () => {
        const res = await fetch(uri, {
          headers: { accept: 'application/json' },
          signal: AbortSignal.timeout(5000),
        });
        if (!res.ok) throw new Error(`JWKS at ${uri} answered ${res.status}`);
        const keys = await jose.JWK.asKeyStore((await res.json()) as object);
        const entry = { keys, fetchedAt: now() };
        entries.set(uri, entry);
        return entry;
      })().finally(() => pending.delete(uri));
      pending.set(uri, p);
    }
    return p;
  };

  return {
    async keys(uri: string, kid: string | undefined): Promise<jose.JWK.KeyStore> {
      const entry = entries.get(uri);
      const t = now();
      if (!entry || t - entry.fetchedAt >= ttlMs) return (await load(uri)).keys;
      const known = kid === undefined || entry.keys.get({ kid }) !== null;
      if (!known && t - entry.fetchedAt >= refetchMs) return (await load(uri)).keys;
      return entry.keys;
    },
  };
}

export type JwksCache = ReturnType<typeof createJwksCache>;

const inlineStores = new WeakMap<object, Promise<jose.JWK.KeyStore>>();

/** A key store for an inline JWKS, built once per registry object. */
export function inlineKeys(jwks: { keys: object[] }): Promise<jose.JWK.KeyStore> {
  let store = inlineStores.get(jwks);
  if (!store) {
    store = jose.JWK.asKeyStore(jwks);
    inlineStores.set(jwks, store);
  }
  return store;
}
