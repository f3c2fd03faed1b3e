import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fetchToken, generateClientKey } from './backend-services-client.js';
import { type RegisteredClient, saveClient } from './client-registry.js';

interface Output {
  write(text: string): unknown;
}

export interface AuthPaths {
  /** The registry file the server reads (AUTH_REGISTRY_FILE). */
  registryFile: string;
  /** Folder for the local client's private key. */
  dataDir: string;
}

const LOCAL_CLIENT = 'local-cli';

/**
 * `fhir-ledger token [--url http://localhost:8080/fhir] [--scope "system/*.cruds"]`:
 * the one command a newcomer needs. On first use it creates a key pair for the
 * client "local-cli" (private key in the data folder, mode 0600), registers its
 * public key in the registry file the server reads, then runs the backend-services
 * flow against the server and prints the access token alone, for
 * `TOKEN=$(npx fhir-ledger token)`. Whoever can write the data folder already owns
 * the server, so this opens nothing new.
 */
export async function runTokenCommand(
  argv: string[],
  paths: AuthPaths,
  stdout: Output,
  stderr: Output,
): Promise<number> {
  let values: { url: string; scope: string; 'client-id'?: string; key?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: 'string', default: 'http://localhost:8080/fhir' },
        scope: { type: 'string', default: 'system/*.cruds' },
        'client-id': { type: 'string' },
        key: { type: 'string' },
      },
      strict: true,
    }) as { values: typeof values });
  } catch (err) {
    stderr.write(`fhir-ledger token: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    let clientId = values['client-id'];
    let privateKey: object;
    if (clientId) {
      if (!values.key) throw new Error('--client-id needs --key <private JWK file>');
      privateKey = JSON.parse(await readFile(values.key, 'utf8')) as object;
    } else {
      clientId = LOCAL_CLIENT;
      privateKey = await localClientKey(paths);
    }
    const token = await fetchToken({
      fhirBaseUrl: values.url,
      clientId,
      privateKey,
      scope: values.scope,
    });
    stdout.write(`${token.accessToken}\n`);
    stderr.write(`scope: ${token.scope}; expires in ${token.expiresIn} s\n`);
    return 0;
  } catch (err) {
    stderr.write(`fhir-ledger token: ${(err as Error).message}\n`);
    return 1;
  }
}

/**
 * What `fhir-ledger token` does without options, for scripts and benchmarks that
 * start the server on a data folder: an access token of the local client.
 */
export async function localAccessToken(
  paths: AuthPaths,
  fhirBaseUrl: string,
  scope = 'system/*.cruds',
): Promise<string> {
  const privateKey = await localClientKey(paths);
  return (await fetchToken({ fhirBaseUrl, clientId: LOCAL_CLIENT, privateKey, scope })).accessToken;
}

/** The registry and key locations `loadConfig` derives from a data folder by default. */
export function defaultAuthPaths(dataDir: string): AuthPaths {
  return { registryFile: path.join(dataDir, 'auth', 'registry.json'), dataDir };
}

async function localClientKey(paths: AuthPaths): Promise<object> {
  const keyFile = path.join(paths.dataDir, 'auth', `${LOCAL_CLIENT}.key.json`);
  try {
    return JSON.parse(await readFile(keyFile, 'utf8')) as object;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { privateKey, jwks } = await generateClientKey();
  await mkdir(path.dirname(keyFile), { recursive: true, mode: 0o700 });
  await writeFile(keyFile, `${JSON.stringify(privateKey, null, 2)}\n`, { mode: 0o600 });
  await saveClient(paths.registryFile, { clientId: LOCAL_CLIENT, jwks, scope: 'system/*.cruds' });
  return privateKey;
}

/**
 * `fhir-ledger client add <client-id> --scope "..." (--jwks-uri URL | --jwks FILE |
 * --generate-key FILE) [--fhir-user Practitioner/1] [--patient ID]`: registers a
 * backend-services client in the registry file (a running server picks it up).
 */
export async function runClientCommand(
  argv: string[],
  paths: AuthPaths,
  stdout: Output,
  stderr: Output,
): Promise<number> {
  let parsed: ReturnType<typeof parseClientArgs>;
  try {
    parsed = parseClientArgs(argv);
  } catch (err) {
    stderr.write(`fhir-ledger client: ${(err as Error).message}\n`);
    return 2;
  }
  const { values, clientId } = parsed;
  try {
    const client: RegisteredClient = { clientId, scope: values.scope! };
    if (values['jwks-uri']) client.jwksUri = values['jwks-uri'];
    if (values.jwks) client.jwks = JSON.parse(await readFile(values.jwks, 'utf8'));
    if (values['generate-key']) {
      const { privateKey, jwks } = await generateClientKey(values.ec ? 'EC' : 'RSA');
      await writeFile(values['generate-key'], `${JSON.stringify(privateKey, null, 2)}\n`, {
        mode: 0o600,
        flag: 'wx',
      });
      client.jwks = jwks as RegisteredClient['jwks'];
    }
    if (values['fhir-user']) client.fhirUser = values['fhir-user'];
    if (values.patient) client.patient = values.patient;
    await saveClient(paths.registryFile, client);
    stdout.write(`client ${clientId} registered in ${paths.registryFile}\n`);
    return 0;
  } catch (err) {
    stderr.write(`fhir-ledger client: ${(err as Error).message}\n`);
    return 1;
  }
}

function parseClientArgs(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      scope: { type: 'string' },
      'jwks-uri': { type: 'string' },
      jwks: { type: 'string' },
      'generate-key': { type: 'string' },
      ec: { type: 'boolean' },
      'fhir-user': { type: 'string' },
      patient: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [action, clientId, ...extra] = positionals;
  if (action !== 'add' || !clientId || extra.length)
    throw new Error(
      'usage: client add <client-id> --scope "..." (--jwks-uri URL | --jwks FILE | --generate-key FILE)',
    );
  if (!values.scope) throw new Error('--scope is required');
  const sources = [values['jwks-uri'], values.jwks, values['generate-key']].filter(Boolean);
  if (sources.length !== 1)
    throw new Error('give exactly one of --jwks-uri, --jwks or --generate-key');
  return { values, clientId };
}
