/**
 * The lab's VNC displays: for each running instance with a console port (a Ganeti instance's networkPort, a Proxmox
 * guest's `-vnc 127.0.0.1:N` args, port 5900+N), a tiny TCP listener on 127.0.0.1:PORT that answers the RFB greeting,
 * as the hypervisor's VNC server would: what a member's tunnel through the members' sshd (members-sshd.ts) reaches.
 * They live in the lab process (they end with it), on 127.0.0.1 as the page's `PermitOpen localhost:PORT` wants.
 */
import { createServer, type Server } from 'node:net';
import type { GntInstance } from './capabilities/ganeti/cluster.js';
import type { BaseHostState } from './core/types.js';

export const RFB_GREETING = 'RFB 003.008\n';

/** The console ports of every running instance or guest, whichever host holds it. */
export function vncPorts(hosts: BaseHostState[]): number[] {
  const ports = new Set<number>();
  for (const h of hosts) {
    const instances = (h as { ganeti?: { instances?: GntInstance[] } }).ganeti?.instances ?? [];
    for (const i of instances) if (i.status === 'running' && i.readyAt === undefined && i.networkPort) ports.add(i.networkPort);
    const guests = (h as { guests?: { status?: string }[] }).guests ?? [];
    for (const g of guests) {
      // `args` is read defensively: older saved labs' guests have none.
      const m = /-vnc\s+127\.0\.0\.1:(\d+)/.exec((g as { args?: string }).args ?? '');
      if (g.status === 'running' && m) ports.add(5900 + Number(m[1]));
    }
  }
  return [...ports];
}

export class VncDisplays {
  private readonly servers = new Map<number, Server>();
  /** Ports another process holds (npm start beside another lab): said once, not retried on every command. */
  private readonly taken = new Set<number>();

  /** Listen for exactly the running instances' ports. */
  sync(hosts: BaseHostState[]): void {
    const wanted = new Set(vncPorts(hosts));
    for (const [port, server] of this.servers) if (!wanted.has(port)) { server.close(); this.servers.delete(port); }
    for (const port of wanted) {
      if (this.servers.has(port) || this.taken.has(port)) continue;
      const server = createServer((socket) => {
        socket.on('error', () => socket.destroy());
        socket.end(RFB_GREETING);
      });
      server.on('error', (error: NodeJS.ErrnoException) => {
        this.servers.delete(port);
        this.taken.add(port);
        process.stderr.write(`runbook-lab: no VNC display on 127.0.0.1:${port}: ${error.code ?? error.message}\n`);
      });
      server.listen(port, '127.0.0.1');
      this.servers.set(port, server);
    }
  }

  close(): Promise<void> {
    const servers = [...this.servers.values()];
    this.servers.clear();
    return Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined);
  }
}
