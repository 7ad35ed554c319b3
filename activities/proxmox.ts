/**
 * A Proxmox cluster as one of its nodes sees it, and the guest moves of a planned reboot. Each move first reads
 * where the guest is now, so a retry after a crash finds it moved (or stopped, or started) and does nothing.
 */
import { Context } from '@temporalio/activity';
import { proxmox, type Command, type GuestType } from '../common/commands.js';
import type { ClusterFacts, GuestFacts } from '../common/drain-plan.js';
import { parseBootFree, parseClusterResources, parseGuestConfig, parsePvecmStatus, parsePvesmStatus, parseStorageList } from './parsers/proxmox.js';
import type { Outcome } from './raid/activities.js';
import type { RemoteShell } from './ssh/remote.js';
import { failure } from '../common/failures.js';

export interface GuestRef {
  vmid: number;
  type: GuestType;
}

/** The cluster as `host` sees it: every guest, node and storage (`pvesh get /cluster/resources`). */
export async function clusterResources(remote: RemoteShell, host: string) {
  return parseClusterResources((await remote.run(host, proxmox.clusterResources())).stdout);
}

export function proxmoxActivities(remote: RemoteShell) {
  async function quorate(host: string): Promise<boolean> {
    // The page shows `pvecm status` exiting 1 while quorate: read the output, not the exit code.
    const result = await remote.run(host, proxmox.quorum(), { allowFailure: true });
    return parsePvecmStatus(result.stdout).quorate;
  }

  const resources = (host: string) => clusterResources(remote, host);

  /** Where the guest is and whether it runs, from the cluster's own view. */
  async function whereIs(host: string, guest: GuestRef): Promise<{ node: string; status: string } | undefined> {
    const entry = (await resources(host)).guests.find((g) => g.vmid === guest.vmid);
    return entry && { node: entry.node, status: entry.status };
  }

  return {
    async readClusterFacts(host: string): Promise<ClusterFacts> {
      const [isQuorate, cluster, storages, boot] = await Promise.all([
        quorate(host),
        resources(host),
        remote.run(host, proxmox.storageList()),
        remote.run(host, proxmox.bootFree()),
      ]);
      const guests: GuestFacts[] = [];
      for (const g of cluster.guests) {
        // Storages matter only for the guests that may have to leave this node.
        const storages = g.node === host ? parseGuestConfig((await remote.run(host, proxmox.guestConfig(g.type, g.vmid))).stdout).storages : [];
        guests.push({ vmid: g.vmid, type: g.type, name: g.name, node: g.node, status: g.status, memBytes: g.maxmem, cpus: g.maxcpu, storages });
      }
      return {
        quorate: isQuorate,
        nodes: cluster.nodes.map((n) => ({ node: n.node, online: n.status === 'online', memBytes: n.maxmem, cpus: n.maxcpu })),
        guests,
        sharedStorages: parseStorageList(storages.stdout).filter((s) => s.shared).map((s) => s.storage),
        bootFreeBytes: parseBootFree(boot.stdout),
      };
    },

    /** Live migration (VM) or restart migration (container), run on the node it leaves. */
    async migrateGuest(move: GuestRef & { from: string; to: string }, command: Command): Promise<Outcome> {
      const where = await whereIs(move.from, move);
      if (where?.node === move.to) return 'already done';
      if (!where || where.node !== move.from) {
        throw failure('GuestElsewhere', `guest ${move.vmid} is on ${where?.node ?? 'no node'}, not on ${move.from}: someone moved it; nothing done`);
      }
      Context.current().heartbeat({ migrating: move.vmid });
      await remote.run(move.from, command, { timeoutMs: 14 * 60_000 });
      return 'done';
    },

    async shutdownGuest(guest: GuestRef & { node: string; timeoutSeconds: number }, command: Command): Promise<Outcome> {
      const where = await whereIs(guest.node, guest);
      if (where?.node !== guest.node) throw failure('GuestElsewhere', `guest ${guest.vmid} is not on ${guest.node}`);
      if (where.status === 'stopped') return 'already done';
      await remote.run(guest.node, command, { timeoutMs: (guest.timeoutSeconds + 60) * 1000 });
      return 'done';
    },

    async startGuest(guest: GuestRef & { node: string }, command: Command): Promise<Outcome> {
      const where = await whereIs(guest.node, guest);
      if (where?.node !== guest.node) throw failure('GuestElsewhere', `guest ${guest.vmid} is not on ${guest.node}`);
      if (where.status === 'running') return 'already done';
      await remote.run(guest.node, command);
      return 'done';
    },

    /** One look: fails (and is retried by the policy) until the cluster is quorate. */
    async expectQuorate(host: string): Promise<void> {
      if (!(await quorate(host))) throw failure('NotQuorate', `the cluster is not quorate as ${host} sees it`);
    },

    /** One look: fails until every storage of the node is active (the LUNs opened, their VGs active). */
    async expectStoragesActive(host: string): Promise<void> {
      const storages = parsePvesmStatus((await remote.run(host, proxmox.storageStatus())).stdout);
      const inactive = storages.filter((s) => s.status !== 'active').map((s) => s.name);
      if (inactive.length) throw failure('StorageInactive', `storages not active on ${host}: ${inactive.join(', ')}`);
    },

    /** One look: fails until every guest in `vmids` runs, wherever it is. */
    async expectGuestsRunning(host: string, vmids: number[]): Promise<void> {
      const guests = (await resources(host)).guests;
      const notRunning = vmids.filter((id) => guests.find((g) => g.vmid === id)?.status !== 'running');
      if (notRunning.length) throw failure('GuestsNotRunningYet', `guests not running yet: ${notRunning.join(', ')}`);
    },
  };
}

export type ProxmoxActivities = ReturnType<typeof proxmoxActivities>;
