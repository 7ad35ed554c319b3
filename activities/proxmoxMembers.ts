/**
 * A member's VM on Proxmox ("Création de VMs"): what the capacity rules need read, the addresses members' VMs hold,
 * and the changes, each looking first: `qm create` (the VM id free, or already this VM), the IPSet, its address,
 * the firewall options, the boot order. Start and shutdown are the reboot runbook's own (proxmox.ts).
 */
import type { Command } from '../common/commands.js';
import { MEMBER_FIREWALL_OPTIONS, MEMBER_IPSET, MEMBER_VMIDS, pveMember, type PveMemberVm } from '../common/commands.js';
import type { MemberCapacity } from '../common/capacity.js';
import { failure } from '../common/failures.js';
import { parseContentVolids, parseFirewallOptions, parseIpsetEntries, parseIpsets, parseNodeStatus } from './parsers/pve-members.js';
import { clusterResources } from './proxmox.js';
import { parseGuestConfig } from './parsers/proxmox.js';
import type { Outcome } from './raid/activities.js';
import type { RemoteShell } from './ssh/remote.js';

export function proxmoxMemberActivities(remote: RemoteShell) {
  const resources = (node: string) => clusterResources(remote, node);

  /** The first of `nodes` that answers: the cluster's view is the same from any quorate member. */
  async function firstAnswering<T>(nodes: readonly string[], read: (node: string) => Promise<T>): Promise<T> {
    const errors: string[] = [];
    for (const node of nodes) {
      try { return await read(node); } catch (error) { errors.push(`${node}: ${(error as Error).message}`); }
    }
    throw failure('CommandFailed', `no node of the cluster answered:\n${errors.join('\n')}`);
  }

  async function guestOn(node: string, vmid: number) {
    return (await resources(node)).guests.find((g) => g.vmid === vmid);
  }

  return {
    /**
     * Nodes (memory, physical cores: online ones only), every guest's allocation, the storages' free space, and which
     * online nodes hold the installer ISO `iso` (`local:iso/…`: the storage before the colon).
     */
    async readMemberCapacity(nodes: string[], iso?: string): Promise<MemberCapacity> {
      return firstAnswering(nodes, async (via) => {
        const r = await resources(via);
        const online = r.nodes.filter((n) => n.status === 'online');
        const cpus = await Promise.all(online.map(async (n) => parseNodeStatus((await remote.run(via, pveMember.nodeStatus(n.node))).stdout)));
        const holding = iso
          ? await Promise.all(online.map(async (n) => parseContentVolids((await remote.run(via, pveMember.isoContent(n.node, iso.slice(0, iso.indexOf(':'))))).stdout).includes(iso)))
          : [];
        return {
          ...(iso ? { installer: { iso, nodes: online.filter((_, i) => holding[i]).map((n) => n.node) } } : {}),
          nodes: online.map((n, i) => ({ name: n.node, memBytes: n.maxmem, cores: cpus[i]!.cores })),
          offline: r.nodes.filter((n) => n.status !== 'online').map((n) => n.node),
          guests: r.guests.map((g) => ({ vmid: g.vmid, name: g.name, node: g.node, memBytes: g.maxmem, vcpus: g.maxcpu })),
          storages: r.storages.filter((s) => s.totalBytes !== undefined).map((s) => ({ storage: s.storage, node: s.node, shared: s.shared, freeBytes: s.totalBytes! - (s.usedBytes ?? 0) })),
        };
      });
    },

    /** The addresses of the members' VMs (2000–2999) as their IP filters hold them. */
    async memberVmAddresses(nodes: string[]): Promise<string[]> {
      return firstAnswering(nodes, async (via) => {
        const members = (await resources(via)).guests.filter((g) => g.type === 'qemu' && g.vmid >= MEMBER_VMIDS.first && g.vmid <= MEMBER_VMIDS.last);
        const addresses: string[] = [];
        // Read on the VM's own node: its firewall file is the cluster's, the API path names the node.
        for (const g of members) {
          const sets = parseIpsets((await remote.run(g.node, pveMember.ipsets(g.node, g.vmid))).stdout);
          if (sets.includes(MEMBER_IPSET)) addresses.push(...parseIpsetEntries((await remote.run(g.node, pveMember.ipsetEntries(g.node, g.vmid))).stdout));
        }
        return addresses;
      });
    },

    async createMemberVm(node: string, vm: PveMemberVm, command: Command): Promise<Outcome> {
      const found = await guestOn(node, vm.vmid);
      if (found) {
        if (found.name === vm.name && found.node === node && found.type === 'qemu') return 'already done';
        throw failure('InvalidInput', `VM id ${vm.vmid} is taken by ${found.type} "${found.name}" on ${found.node}, not ${vm.name} on ${node}: someone created it since the plan; nothing done`);
      }
      await remote.run(node, command, { timeoutMs: 10 * 60_000 });
      return 'done';
    },

    async ensureMemberIpset(node: string, vmid: number, command: Command): Promise<Outcome> {
      if (parseIpsets((await remote.run(node, pveMember.ipsets(node, vmid))).stdout).includes(MEMBER_IPSET)) return 'already done';
      await remote.run(node, command);
      return 'done';
    },

    /** The VM's one address in its IP filter; another address there is someone else's change: a person looks. */
    async ensureIpsetAddress(node: string, vmid: number, ip: string, command: Command): Promise<Outcome> {
      const entries = parseIpsetEntries((await remote.run(node, pveMember.ipsetEntries(node, vmid))).stdout);
      const others = entries.filter((c) => c !== ip);
      if (others.length) throw failure('InvalidInput', `${MEMBER_IPSET} of VM ${vmid} holds ${others.join(', ')}, not only ${ip}: the VM could use them; nothing done`);
      if (entries.includes(ip)) return 'already done';
      await remote.run(node, command);
      return 'done';
    },

    async ensureMemberFirewall(node: string, vmid: number, command: Command): Promise<Outcome> {
      const options = parseFirewallOptions((await remote.run(node, pveMember.options(node, vmid))).stdout);
      if (Object.entries(MEMBER_FIREWALL_OPTIONS).every(([k, v]) => String(options[k]) === String(v))) return 'already done';
      await remote.run(node, command);
      return 'done';
    },

    async setMemberBootOrder(node: string, vmid: number, order: string, command: Command): Promise<Outcome> {
      const config = parseGuestConfig((await remote.run(node, pveMember.config(vmid))).stdout);
      if (config.fields.boot === order) return 'already done';
      await remote.run(node, command);
      return 'done';
    },
  };
}
