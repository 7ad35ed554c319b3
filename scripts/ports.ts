/**
 * Is a TCP port free to listen on, and if not, who holds it: checked before `npm start` starts a server, so that
 * "port in use" is said only when it is true, naming the process when /proc tells (same network namespace).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';

/** Resolves to null when host:port can be listened on, else to why not (EADDRINUSE...). */
export function portProblem(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/** The processes listening on `port` (any address), as "pid 123 (temporal server start-dev ...)". */
export function portHolders(port: number): string[] {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; st 0A is LISTEN; the inode is the 10th field.
      if (f.length > 9 && f[3] === '0A' && parseInt(f[1]!.split(':')[1]!, 16) === port) inodes.add(f[9]!);
    }
  }
  if (!inodes.size) return [];
  const holders: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let fds: string[];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    const holds = fds.some((fd) => {
      try { return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? ''); } catch { return false; }
    });
    if (!holds) continue;
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim(); } catch { /* gone meanwhile */ }
    cmd = cmd.replace(/\/t\/[^/\s]+/g, '/t/<token>'); // a dev server's codec endpoint carries the codec token
    holders.push(`pid ${pid} (${cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd})`);
  }
  return holders;
}

export class PortInUseError extends Error {}

/** Throws a message naming the port, what it is for, and its holder, when host:port cannot be listened on. */
export async function assertPortFree(host: string, port: number, what: string, setting: string): Promise<void> {
  const problem = await portProblem(host, port);
  if (!problem) return;
  if (problem !== 'EADDRINUSE') throw new PortInUseError(`cannot listen on ${host}:${port} for ${what}: ${problem} (${setting})`);
  const holders = portHolders(port);
  const by = holders.length ? `held by ${holders.join(', ')}` : 'held by a process this user cannot see';
  throw new PortInUseError(`port ${port} (${what}) is already in use on ${host}: ${by}. Stop it, or choose another port with ${setting}`);
}
