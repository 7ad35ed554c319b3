/** A Proxmox cluster preset run by its simulator alone, without SSH: exec over the nodes' states shared through a LabView. */
import type { LabView } from '../../lab/core/types.js';
import { proxmoxCluster, proxmoxNode, type ProxmoxClusterOptions } from '../../lab/hosts/proxmox-node.js';
import { splitWords } from '../../lab/words.js';

export const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);

export interface Run { out: string; err: string; code: number; after?: string }

/** Every node booted at T0 and running; each command a second later than the last. */
export function pveCluster(opts: ProxmoxClusterOptions = {}) {
  const spec = proxmoxCluster(opts);
  const states = spec.hosts.map((h) => h.state);
  for (const s of states) { proxmoxNode.boot(s, T0); s.power = 'openssh'; }
  const lab: LabView = { host: (n) => states.find((s) => s.name === n), hosts: () => states };
  let now = T0 + 60_000;
  const node = (name: string) => states.find((s) => s.name === name)!;
  const run = (name: string, command: string | string[]): Run => {
    now += 1000;
    const r = proxmoxNode.exec(node(name), typeof command === 'string' ? splitWords(command) : command, { now, stage: 'openssh', lab });
    if ('needStdin' in r) throw new Error(`${String(command)} asked for stdin`);
    return { out: r.stdout.toString(), err: r.stderr, code: r.exitCode, ...(r.after ? { after: r.after } : {}) };
  };
  const where = (vmid: number) => states.find((s) => s.guests.some((g) => g.vmid === vmid))?.name;
  const guest = (vmid: number) => states.flatMap((s) => s.guests).find((g) => g.vmid === vmid)!;
  return { spec, states, node, run, where, guest, lab };
}
