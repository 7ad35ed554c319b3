/**
 * The host steps of a whole-cluster teardown that nodeSeparation does not have: the Ceph pools (« Suppression du
 * pool »), the QDevice, and the order of the nodes. Built once from the preflight's facts: the plan shows these
 * and the run walks these; each activity looks first (activities/ceph.ts, activities/corosync.ts).
 */
import type { CephFacts } from '../activities/ceph.js';
import type { GuestFacts } from '../common/drain-plan.js';
import type { Outcome } from '../activities/raid/activities.js';
import { ceph, pveCluster } from '../common/commands.js';
import { separationVotes } from '../common/quorum.js';
import { daemonSteps, osdSteps, type OsdSteps } from './cephSteps.js';
import { hostChange } from './proxies.js';
import { summarized } from './runbook.js';
import { separationSteps, type SeparationSteps } from './separationSteps.js';
import type { HostStep } from './steps.js';

/** What the read-only preflight found on one node. */
export interface NodeFacts {
  host: string;
  /** The guests that live on the node, with the storages of their disks. */
  guests: GuestFacts[];
  ceph: CephFacts | null;
  files: { etc: string[]; varLib: string[] };
}

export interface NodeTeardown {
  host: string;
  osds: OsdSteps[];
  /** Its monitor and manager; none on the node that keeps the last ones (see `keeper`). */
  daemons: HostStep<Outcome>[];
  separation: SeparationSteps;
}

/** The pools of the cluster, as any Ceph node lists them. */
export const poolsOf = (nodes: NodeFacts[]) => [...new Set(nodes.flatMap((n) => n.ceph?.pools.map((p) => p.name) ?? []))];

/** Every guest disk on a pool the teardown would destroy: "vmid (name) on node: pool". Empty lets it go on. */
export function poolUsers(nodes: NodeFacts[]): string[] {
  const pools = new Set(poolsOf(nodes));
  return nodes.flatMap((n) => n.guests.flatMap((g) => g.storages.filter((s) => pools.has(s)).map((s) => `${g.type === 'lxc' ? 'CT' : 'VM'} ${g.vmid} (${g.name}) on ${n.host}: a disk on pool ${s}`)));
}

/** `pveceph pool destroy NAME`, from a Ceph node: only reached once the preflight found no guest disk on any pool. */
export function poolSteps(nodes: NodeFacts[]): HostStep<Outcome>[] {
  const on = nodes.find((n) => n.ceph)?.host;
  return on ? poolsOf(nodes).map((name) => ({
    host: on, stage: 'openssh' as const, command: ceph.destroyPool(name), why: 'no guest disk uses it (preflight); « Suppression du pool »: its placement groups go, the OSDs empty at once',
    run: (command) => summarized(hostChange.destroyPool, `pveceph pool destroy ${name} on ${on}`)(on, name, command),
  })) : [];
}

/** `pvecm qdevice remove`, from the node that stays last, while every node is still a member: the cluster keeps its quorum. */
export function qdeviceSteps(host: string, votes: number): HostStep<Outcome>[] {
  return votes ? [{
    host, stage: 'openssh', command: pveCluster.removeQdevice(), why: `its ${votes} vote${votes === 1 ? '' : 's'} go with it; every node still votes, the cluster stays quorate`,
    run: (command) => summarized(hostChange.removeQdevice, `pvecm qdevice remove on ${host}`)(host, command),
  }] : [];
}

/**
 * The node that stays last: it runs every delnode and keeps Ceph's last monitor and manager (Ceph cannot remove
 * its only ones; `pveceph purge` is a reinstall's business). The last node of the nodelist that has a monitor.
 */
export function keeper(nodelist: string[], nodes: NodeFacts[]): string {
  const withMon = nodelist.filter((h) => nodes.find((n) => n.host === h)?.ceph?.mon);
  return withMon.at(-1) ?? nodelist.at(-1)!;
}

/**
 * Every node's teardown, in the order they leave: the others in nodelist order, the keeper last. The QDevice is
 * gone by then, so each node has one vote of the nodes left: when the keeper would be alone without quorum
 * (two nodes left), `pvecm expected` gives it back before delnode; the keeper itself needs no delnode, it ends
 * standalone once its own configuration is removed.
 */
export function nodeTeardowns(o: { nodelist: string[]; nodes: NodeFacts[]; backupDir: string }): NodeTeardown[] {
  const last = keeper(o.nodelist, o.nodes);
  const order = [...o.nodelist.filter((h) => h !== last), last];
  return order.map((host, i) => {
    const facts = o.nodes.find((n) => n.host === host)!;
    const left = order.slice(i);
    const isLast = host === last;
    const votes = separationVotes(host, { quorate: true, expected: left.length, total: left.length, nodeVotes: 1, nodelist: left, qdeviceVotes: 0 });
    return {
      host,
      osds: osdSteps(host, facts.ceph),
      daemons: isLast ? [] : daemonSteps(host, facts.ceph),
      separation: separationSteps({
        host, remaining: isLast ? null : last, backupDir: o.backupDir, etcFiles: facts.files.etc, varLibFiles: facts.files.varLib,
        ...(!isLast && !votes.during.quorate ? { expectedVotes: votes.during.total } : {}),
      }),
    };
  });
}
