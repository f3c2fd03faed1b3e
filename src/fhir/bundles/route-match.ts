import querystring from 'node:querystring';
import type { FhirRequest, Route, Services } from '../interactions/types.js';

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
  query: FhirRequest['query'];
}

const patterns = new WeakMap<Route, RegExp>();

/**
 * The route of the table that answers `method url` (url relative to the base,
 * query allowed), matched in table order like the HTTP router, so every route
 * added to the table also works inside bundles.
 */
export function matchRoute(
  services: Services,
  method: Route['method'],
  url: string,
): RouteMatch | undefined {
  const q = url.indexOf('?');
  const path = `/${(q < 0 ? url : url.slice(0, q)).replace(/^\/+/, '')}`;
  for (const route of services.routes) {
    if (route.method !== method) continue;
    const groups = pattern(route).exec(path)?.groups;
    if (!groups) continue;
    const params: Record<string, string> = {};
    try {
      for (const [name, value] of Object.entries(groups)) params[name] = decodeURIComponent(value);
    } catch {
      return undefined;
    }
    return { route, params, query: querystring.parse(q < 0 ? '' : url.slice(q + 1)) };
  }
  return undefined;
}

function pattern(route: Route): RegExp {
  let re = patterns.get(route);
  if (!re) {
    const source = route.path
      .split('/')
      .map((segment) =>
        segment.startsWith(':')
          ? `(?<${segment.slice(1)}>[^/]+)`
          : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/');
    re = new RegExp(`^${source}/?$`);
    patterns.set(route, re);
  }
  return re;
}
