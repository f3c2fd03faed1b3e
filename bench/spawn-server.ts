import { type ChildProcess, spawn } from 'node:child_process';
import readline from 'node:readline';

/**
 * Starts a server process and resolves with the URL of its JSON log line `listening`
 * (e.g. 'fhir-ledger listening'); later log lines are drained, not parsed. With
 * BENCH_CPU_PROF=<dir> the server writes a V8 CPU profile there when it exits.
 */
export function spawnServer(
  args: string[],
  env: NodeJS.ProcessEnv,
  listening: string,
): Promise<{ url: string; child: ChildProcess }> {
  const profile = process.env.BENCH_CPU_PROF;
  const flags = profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [];
  const child = spawn(process.execPath, [...flags, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg: string; url?: string };
      if (entry.msg === listening) {
        lines.close();
        child.stdout!.resume();
        resolve({ url: entry.url!, child });
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}
