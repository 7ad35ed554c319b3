/**
 * Draining a Proxmox node before its reboot, under the page's capacity rules ("Matériel"):
 *  - keep about a third of the cluster spare for a node failure: a planned reboot is that failure, on purpose;
 *  - no RAM overcommit on the nodes that take the guests;
 *  - at most 3–4 vCPU per core (we allow `vcpuPerCore`, 4 by default).
 * VMs on shared storage migrate live; containers cannot, they restart on the other node; guests on local storage
 * (lvmthin_luks_local) cannot leave and are shut down. Pure code: the workflow computes the plan from facts
 * read by an activity, so the plan is in history and the same plan is shown for approval and then executed.
 */

export interface NodeFacts {
  node: string;
  online: boolean;
  memBytes: number;
  cpus: number;
}

export interface GuestFacts {
  vmid: number;
  type: 'qemu' | 'lxc';
  name: string;
  node: string;
  status: string;
  memBytes: number;
  cpus: number;
  /** The storages its disks live on. */
  storages: string[];
}

export interface ClusterFacts {
  quorate: boolean;
  nodes: NodeFacts[];
  guests: GuestFacts[];
  /** Storages every node sees (shared: 1). */
  sharedStorages: string[];
  /** Free bytes in this node's /boot. */
  bootFreeBytes: number;
}

export type GuestAction = 'live-migrate' | 'restart-migrate' | 'shut down';

export interface GuestMove {
  vmid: number;
  type: 'qemu' | 'lxc';
  name: string;
  action: GuestAction;
  /** The node it goes to (migrations only). */
  to?: string;
  why: string;
}

export interface NodeLoad {
  node: string;
  memBytes: number;
  allocatedMemBytes: number;
  cpus: number;
  allocatedCpus: number;
}

export interface DrainPlan {
  host: string;
  /** Empty when the drain may go ahead; otherwise why not, with the numbers. */
  refusals: string[];
  moves: GuestMove[];
  /** What the other nodes carry once the drain is done. */
  loads: NodeLoad[];
  clusterMemBytes: number;
  runningMemBytes: number;
}

export interface DrainRules {
  spareFraction: number;
  vcpuPerCore: number;
  afterUpgrade: boolean;
  minBootFreeBytes: number;
}

export const DEFAULT_RULES: DrainRules = { spareFraction: 1 / 3, vcpuPerCore: 4, afterUpgrade: false, minBootFreeBytes: 70 * 1024 * 1024 };

const GiB = 1024 ** 3;
export const gib = (bytes: number): string => `${(bytes / GiB).toFixed(1)} GiB`;

export function planDrain(facts: ClusterFacts, host: string, rules: DrainRules = DEFAULT_RULES): DrainPlan {
  const refusals: string[] = [];
  if (!facts.quorate) refusals.push('the cluster is not quorate: rebooting a node now could stop the whole cluster');
  if (rules.afterUpgrade && facts.bootFreeBytes < rules.minBootFreeBytes) {
    refusals.push(`/boot has ${(facts.bootFreeBytes / 1024 ** 2).toFixed(0)} MB free, the page asks for about ${(rules.minBootFreeBytes / 1024 ** 2).toFixed(0)} MB after an upgrade`);
  }
  const self = facts.nodes.find((n) => n.node === host);
  if (!self) refusals.push(`${host} is not a node of this cluster`);
  const others = facts.nodes.filter((n) => n.node !== host && n.online);
  const offline = facts.nodes.filter((n) => n.node !== host && !n.online).map((n) => n.node);
  if (offline.length) refusals.push(`other nodes are offline (${offline.join(', ')}): draining ${host} would leave the cluster without a spare`);

  const running = facts.guests.filter((g) => g.status === 'running');
  const clusterMemBytes = facts.nodes.reduce((sum, n) => sum + n.memBytes, 0);
  const runningMemBytes = running.reduce((sum, g) => sum + g.memBytes, 0);
  const limit = clusterMemBytes * (1 - rules.spareFraction);
  if (runningMemBytes > limit) {
    refusals.push(`the running guests use ${gib(runningMemBytes)} of ${gib(clusterMemBytes)}: more than the ${Math.round((1 - rules.spareFraction) * 100)}% the page allows (${gib(limit)}), so the cluster has no spare node`);
  }

  const loads = new Map<string, NodeLoad>(others.map((n) => [n.node, {
    node: n.node, memBytes: n.memBytes, cpus: n.cpus,
    allocatedMemBytes: running.filter((g) => g.node === n.node).reduce((s, g) => s + g.memBytes, 0),
    allocatedCpus: running.filter((g) => g.node === n.node).reduce((s, g) => s + g.cpus, 0),
  }]));
  const shared = new Set(facts.sharedStorages);
  const moves: GuestMove[] = [];
  // Largest first, each to the node with the most free RAM: spreads the load, fails only when it must.
  const leaving = running.filter((g) => g.node === host).sort((a, b) => b.memBytes - a.memBytes || a.vmid - b.vmid);
  for (const guest of leaving) {
    const local = guest.storages.filter((s) => !shared.has(s));
    if (local.length) {
      moves.push({ vmid: guest.vmid, type: guest.type, name: guest.name, action: 'shut down', why: `its disks are on local storage (${local.join(', ')}): it cannot leave ${host}` });
      continue;
    }
    const fits = [...loads.values()]
      .filter((l) => l.allocatedMemBytes + guest.memBytes <= l.memBytes && l.allocatedCpus + guest.cpus <= l.cpus * rules.vcpuPerCore)
      .sort((a, b) => (b.memBytes - b.allocatedMemBytes) - (a.memBytes - a.allocatedMemBytes) || a.node.localeCompare(b.node));
    const target = fits[0];
    if (!target) {
      const room = [...loads.values()].map((l) => `${l.node} ${gib(l.memBytes - l.allocatedMemBytes)} free, ${l.cpus * rules.vcpuPerCore - l.allocatedCpus} vCPU left`).join('; ');
      refusals.push(`no node can take ${guest.type === 'lxc' ? 'container' : 'VM'} ${guest.vmid} (${guest.name}, ${gib(guest.memBytes)}, ${guest.cpus} vCPU) without overcommitting RAM or passing ${rules.vcpuPerCore} vCPU per core: ${room || 'no other node online'}`);
      continue;
    }
    target.allocatedMemBytes += guest.memBytes;
    target.allocatedCpus += guest.cpus;
    moves.push(guest.type === 'lxc'
      ? { vmid: guest.vmid, type: guest.type, name: guest.name, action: 'restart-migrate', to: target.node, why: 'containers cannot migrate live: restarted on the other node' }
      : { vmid: guest.vmid, type: guest.type, name: guest.name, action: 'live-migrate', to: target.node, why: 'on shared storage: migrates live' });
  }
  return { host, refusals, moves, loads: [...loads.values()], clusterMemBytes, runningMemBytes };
}
