/**
 * Audit benchmark: reads per second of the real server with consent enforced, with the audit
 * on and off in the same run (the audit's `afterRequest` listener detached for "off", the
 * same server, database and chain), and AuditEvents written per second by the batch writer.
 *
 *   npm run bench:audit [-- --seconds 10 --connections 16 --rounds 2]
 *
 * The server runs in this process (to detach the listener), with an embedded anvil and, unless
 * DATABASE_URL is set, an embedded PostgreSQL in a temporary folder; the load comes from an
 * autocannon child process. The caller is a custodian: one access decision and one AuditEvent
 * per read; the search returns 20 Observations of one patient (one AuditEvent listing them).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { defaultAuthPaths, localAccessToken } from '../src/auth/auth-command.js';
import { loadConfig } from '../src/config.js';
import { AuditLog } from '../src/consent/audit/audit-log.js';
import type { AuditedRequest } from '../src/consent/audit/balp-audit-events.js';
import { createLogger } from '../src/logger.js';
import { startServer } from '../src/server.js';
import { processTreeCpu } from './process-cpu.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
  },
});
const seconds = Number(args.seconds);
const connections = Number(args.connections);
const rounds = Number(args.rounds);
const run = promisify(execFile);

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'fhir-ledger-bench-audit-'));
const config = loadConfig({
  ...process.env,
  PORT: '0',
  HOST: '127.0.0.1',
  DATA_DIR: dataDir,
  CHAIN_PORT: '0',
  CONSENT_CUSTODIAN_CLIENTS: 'local-cli',
});
const server = await startServer({ config, logger: createLogger('warn') });
try {
  const base = `${server.url}/fhir`;
  const authorization = `Bearer ${await localAccessToken(defaultAuthPaths(dataDir), base)}`;
  const post = async (resource: object) => {
    const res = await fetch(`${base}/${(resource as { resourceType: string }).resourceType}`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(resource),
    });
    if (res.status !== 201) throw new Error(`create: ${res.status}`);
    return ((await res.json()) as { id: string }).id;
  };
  const patient = await post({ resourceType: 'Patient', name: [{ family: 'Bench' }] });
  for (let i = 0; i < 20; i++) {
    await post({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { reference: `Patient/${patient}` },
      valueQuantity: { value: 60 + i, unit: '/min' },
    });
  }

  const hooks = server.services.hooks;
  const audit = server.consent!.audit;
  const auditListeners = hooks.afterRequest.slice();
  const setAudit = (on: boolean) =>
    hooks.afterRequest.splice(0, Infinity, ...(on ? auditListeners : []));

  /** Server CPU (this process + its PostgreSQL) per request of the last measure. */
  let cpuPerRequest = { node: 0, postgres: 0 };
  const measure = async (url: string): Promise<number> => {
    // This process's own CPU (not the autocannon child's), and its PostgreSQL's.
    const nodeBefore = process.cpuUsage();
    const pgBefore = processTreeCpu(process.pid).postgres ?? 0;
    const { stdout } = await run(
      process.execPath,
      [
        path.resolve('node_modules/autocannon/autocannon.js'),
        '--json',
        '-c',
        String(connections),
        '-d',
        String(seconds),
        '-H',
        `authorization=${authorization}`,
        url,
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const result = JSON.parse(stdout) as {
      requests: { average: number };
      non2xx: number;
      errors: number;
    };
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    }
    const node = process.cpuUsage(nodeBefore);
    const total = result.requests.average * seconds;
    cpuPerRequest = {
      node: (node.user + node.system) / 1000 / total,
      postgres: (((processTreeCpu(process.pid).postgres ?? 0) - pgBefore) * 1000) / total,
    };
    return result.requests.average;
  };

  const waitDrained = async () => {
    while (audit.writer.pending > 0) await new Promise((r) => setTimeout(r, 20));
  };

  console.log(
    `\nAudit on vs off, ${os.cpus().length} cores, ${connections} connections, ${seconds} s per phase, ${rounds} rounds (custodian, AUDIT_FLUSH_MS ${config.consent.auditFlushMs})`,
  );
  console.log(
    'workload | audit off req/s | audit on req/s | on / off | AuditEvents written/s | CPU ms per request off -> on: node + postgres',
  );
  for (const [name, url] of [
    ['read Patient', `${base}/Patient/${patient}`],
    ['search 20 Observations', `${base}/Observation?subject=Patient/${patient}&_count=20`],
  ] as const) {
    let off = 0;
    let on = 0;
    let writtenPerSecond = 0;
    const storedBefore = audit.writer.stored;
    const cpu = { off: { node: 0, postgres: 0 }, on: { node: 0, postgres: 0 } };
    const addCpu = (into: { node: number; postgres: number }) => {
      into.node += cpuPerRequest.node / rounds;
      into.postgres += cpuPerRequest.postgres / rounds;
    };
    for (let round = 0; round < rounds; round++) {
      setAudit(false);
      off += await measure(url);
      addCpu(cpu.off);
      setAudit(true);
      const before = audit.writer.written;
      const started = performance.now();
      on += await measure(url);
      await waitDrained();
      addCpu(cpu.on);
      writtenPerSecond += ((audit.writer.written - before) * 1000) / (performance.now() - started);
    }
    const stored = audit.writer.stored - storedBefore;
    console.log(
      `${name} | ${(off / rounds).toFixed(0)} | ${(on / rounds).toFixed(0)} | ${(on / off).toFixed(3)} | ${(writtenPerSecond / rounds).toFixed(0)} (stored as ${stored} grouped events) | ${cpu.off.node.toFixed(2)} + ${cpu.off.postgres.toFixed(2)} -> ${cpu.on.node.toFixed(2)} + ${cpu.on.postgres.toFixed(2)}`,
    );
  }

  // The audit alone, as the server runs it (`AuditLog`): reads by one practitioner of 50
  // Observations of one patient, grouped, then built and stored.
  const count = 20_000;
  const grant = `0x${'01'.repeat(32)}` as const;
  const auditedServer = { name: 'fhir-ledger', chainId: 31337, consentRegistry: '0x0' };
  const read = (n: number): AuditedRequest => ({
    requestId: `bench-${n}`,
    principal: {
      issuer: 'https://idp.example.org',
      clientId: 'bench-app',
      subject: 'user-1',
      fhirUser: 'Practitioner/bench',
      purposeOfUse: [],
    },
    outcome: {
      status: 200,
      method: 'GET',
      interaction: 'read',
      resourceType: 'Observation',
      url: `/Observation/o${n % 50}`,
      clientAddress: '127.0.0.1',
    },
    operations: [{ interaction: 'read', resourceType: 'Observation', id: `o${n % 50}` }],
    decisionsByPatient: new Map([
      [
        `Patient/${patient}`,
        [
          {
            patient: `Patient/${patient}`,
            resourceType: 'Observation',
            permitted: true,
            basis: 'grant',
            grants: [grant],
            block: 100n,
            count: 1,
          },
        ],
      ],
    ]),
    returnedByPatient: new Map([[`Patient/${patient}`, [`Observation/o${n % 50}/_history/1`]]]),
    recorded: new Date().toISOString(),
    server: auditedServer,
  });
  const alone = new AuditLog({
    store: server.services.store,
    logger: createLogger('warn'),
    flushMs: config.consent.auditFlushMs,
    group: config.consent.auditGroup,
    onWritten: () => {},
  });
  const started = performance.now();
  for (let i = 0; i < count; i++) alone.add(read(i));
  await alone.stop();
  const elapsed = (performance.now() - started) / 1000;
  console.log(
    `audit alone: ${count} audited reads in ${elapsed.toFixed(2)} s = ${(count / elapsed).toFixed(0)}/s (stored as ${alone.stored} AuditEvents)`,
  );
} finally {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
}
