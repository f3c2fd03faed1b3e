#!/usr/bin/env node

const USAGE = `Usage: fhir-ledger <command>

Commands:
  serve                      start the FHIR server (configuration from the environment)
  worker                     anchoring worker on the Redis queue (REDIS_URL, CHAIN_RPC_URL, ...)
  verify <Type/id/_history/vid | Type/id | [Type] --since T [--until T]>
         check versions against the chain without trusting the server: content by vread,
         hash and leaf recomputed, proof checked, root read from the chain's RPC
         [--url ...] (--token TOKEN | --client-id ID --key PRIVATE_JWK_FILE)
         [--rpc-url URL] [--anchor-address 0x...] [--allow-pending] [--concurrency 8]
  import <files or folders>  post transaction Bundle JSON files to a server
         [--url http://localhost:8080/fhir] [--concurrency 4]
         (--token TOKEN | --client-id ID --key PRIVATE_JWK_FILE)
  token                      print an access token for the local server (registers the
         [--url ...] [--scope "system/*.cruds"]   client "local-cli" on first use)
         [--client-id ID --key PRIVATE_JWK_FILE]  or run the flow for another client
  client add <client-id>     register a SMART backend-services client
         --scope "system/*.rs" (--jwks-uri URL | --jwks FILE | --generate-key FILE [--ec])
         [--fhir-user Practitioner/1] [--patient ID]
`;

/** The `fhir-ledger` command: one subcommand per use case. */
async function cli(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    // Loaded on demand: the server's modules (embedded PostgreSQL's exit hook among
    // them) have no business in the importer's process.
    case 'serve': {
      const { failedToStart, serve } = await import('./serve.js');
      return serve().catch(failedToStart);
    }
    case 'worker': {
      const { runWorkerCommand } = await import('./ledger/worker-command.js');
      return runWorkerCommand();
    }
    case 'verify': {
      const { runVerifyCommand } = await import('./ledger/verify-cli/verify-command.js');
      process.exitCode = await runVerifyCommand(rest, process.stdout, process.stderr);
      return;
    }
    case 'import': {
      const { runImportCommand } = await import('./import/import-command.js');
      process.exitCode = await runImportCommand(rest, process.stdout, process.stderr);
      return;
    }
    case 'token':
    case 'client': {
      const { loadConfig } = await import('./config.js');
      const auth = await import('./auth/auth-command.js');
      const config = loadConfig();
      const paths = { registryFile: config.auth.registryFile, dataDir: config.dataDir };
      const runCommand = command === 'token' ? auth.runTokenCommand : auth.runClientCommand;
      process.exitCode = await runCommand(rest, paths, process.stdout, process.stderr);
      return;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`fhir-ledger: unknown command "${command}"\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

await cli(process.argv.slice(2));
