import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU seconds (user + system) used so far by a process and all its descendants, summed per
 * command name (`node`, `postgres`, `anvil`...), read from /proc (Linux).
 */
export function processTreeCpu(rootPid: number): Record<string, number> {
  const ticks = 100; // USER_HZ on Linux
  const procs = new Map<number, { ppid: number; comm: string; seconds: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // comm may hold spaces and parentheses: fields after it follow the last ')'.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // utime + stime, plus cutime + cstime of children already reaped (ended backends)
    const seconds =
      (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / ticks;
    procs.set(Number(name), { ppid: Number(fields[1]), comm, seconds });
  }
  const totals: Record<string, number> = {};
  const visit = (pid: number) => {
    const proc = procs.get(pid);
    if (!proc) return;
    const key = proc.comm.startsWith('postgres') ? 'postgres' : proc.comm;
    totals[key] = (totals[key] ?? 0) + proc.seconds;
    for (const [child, p] of procs) if (p.ppid === pid) visit(child);
  };
  visit(rootPid);
  return totals;
}

/** CPU seconds (user + system) used so far by one thread (`tid`; a process's main thread has tid = pid). */
export function threadCpu(pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
