import { readFile } from 'node:fs/promises';
import { fetchToken } from '../../auth/backend-services-client.js';

export type VerifyAuth = { token: string } | { clientId: string; keyFile: string; scope: string };

/**
 * A fixed bearer token, or SMART Backend Services with the client's key, fetched again
 * halfway through each token's life so that long verifications keep going.
 */
export async function tokenSource(
  fhirBaseUrl: string,
  auth: VerifyAuth,
): Promise<() => Promise<string>> {
  if ('token' in auth) return async () => auth.token;
  const privateKey = JSON.parse(await readFile(auth.keyFile, 'utf8')) as object;
  const fetchOne = async () => {
    const t = await fetchToken({
      fhirBaseUrl,
      clientId: auth.clientId,
      privateKey,
      scope: auth.scope,
    });
    return { token: t.accessToken, renewAt: Date.now() + (t.expiresIn * 1000) / 2 };
  };
  let current = fetchOne();
  await current;
  return async () => {
    if (Date.now() >= (await current).renewAt) current = fetchOne();
    return (await current).token;
  };
}
