import { type ChildProcess, spawn } from 'node:child_process';
import readline from 'node:readline';

/**
 * Starts a server process and resolves with the URL of its JSON log line `listening`
 * (e.g. 'fhir-ledger listening'); later log lines are drained, not parsed.
 */
export function spawnServer(
  args: string[],
  env: NodeJS.ProcessEnv,
  listening: string,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
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
