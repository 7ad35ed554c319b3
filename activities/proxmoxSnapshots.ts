/**
 * Proxmox VM snapshots on the node that runs the VM: which storages its disks are on (and whether those take
 * snapshots), and `qm snapshot|rollback|delsnapshot`, each checking the snapshot list first.
 */
import { Context } from '@temporalio/activity';
import { proxmox, type Command } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { parseGuestConfig, parseStorageList } from './parsers/proxmox.js';
import { parseSnapshotNames } from './parsers/qm-snapshot.js';
import type { Outcome } from './raid/activities.js';
import type { RemoteShell } from './ssh/remote.js';

export interface VmStorages {
  name: string;
  storages: { storage: string; type: string; shared: boolean }[];
  snapshots: string[];
  /** `qm status`: running, stopped, paused. */
  status: string;
}

export function proxmoxSnapshotActivities(remote: RemoteShell) {
  const names = async (host: string, vmid: number) => parseSnapshotNames((await remote.run(host, proxmox.listSnapshots(vmid))).stdout);
  const genId = async (host: string, vmid: number) => parseGuestConfig((await remote.run(host, proxmox.guestConfig('qemu', vmid))).stdout).fields.vmgenid ?? null;
  const status = async (host: string, vmid: number) => /^status:\s*(\S+)/m.exec((await remote.run(host, proxmox.vmStatus(vmid))).stdout)?.[1] ?? 'unknown';

  return {
    async readVmStorages(host: string, vmid: number): Promise<VmStorages> {
      const config = await remote.run(host, proxmox.guestConfig('qemu', vmid), { allowFailure: true });
      if (config.exitCode !== 0) throw failure('Refused', `VM ${vmid} is not a VM of node ${host} (${config.stderr.trim()}); nothing was changed`);
      const parsed = parseGuestConfig(config.stdout);
      const defs = parseStorageList((await remote.run(host, proxmox.storageList())).stdout);
      return {
        name: parsed.fields.name ?? String(vmid),
        storages: parsed.storages.map((storage) => {
          const def = defs.find((d) => d.storage === storage);
          return { storage, type: def?.type ?? 'unknown', shared: def?.shared ?? false };
        }),
        snapshots: await names(host, vmid),
        status: await status(host, vmid),
      };
    },

    /**
     * The VM's generation id (`vmgenid` in `qm config`, null when it has none): PVE gives it a new one at every
     * rollback, so, read before, it tells a retried rollback whether the first attempt already ran.
     */
    readVmGenId(host: string, vmid: number): Promise<string | null> {
      return genId(host, vmid);
    },

    /** `qm status`: whether the VM runs (right before a rollback, which stops it). */
    readVmStatus(host: string, vmid: number): Promise<string> {
      return status(host, vmid);
    },

    /**
     * `qm snapshot` unless it exists, `qm delsnapshot` unless it is gone; `qm rollback` unless the VM's generation id
     * is no longer `genIdBefore` (read right before: a rollback gives a new one, so the first attempt ran). A VM
     * without one keeps no trace of a rollback: its first attempt runs it, a retry asks a person.
     * `genIdBefore` undefined: a run recorded before this guard, which rolls back as it did then.
     */
    async changeVmSnapshot(host: string, snap: { vmid: number; name: string; action: 'snapshot' | 'rollback' | 'delete'; genIdBefore?: string | null }, command: Command): Promise<Outcome> {
      const exists = (await names(host, snap.vmid)).includes(snap.name);
      if ((snap.action === 'snapshot' && exists) || (snap.action === 'delete' && !exists)) return 'already done';
      if (snap.action === 'rollback' && !exists) throw failure('Refused', `VM ${snap.vmid} has no snapshot ${snap.name} on ${host}`);
      if (snap.action === 'rollback' && snap.genIdBefore !== undefined) {
        const now = await genId(host, snap.vmid);
        if (snap.genIdBefore !== null && now !== snap.genIdBefore) return 'already done';
        if (snap.genIdBefore === null && Context.current().info.attempt > 1) {
          throw failure('OutcomeUnknown', `VM ${snap.vmid} on ${host} has no vmgenid, so nothing tells whether the rollback to ${snap.name} already ran before this retry: running it again would lose what the VM wrote since. Look at the VM (qm config ${snap.vmid}, its disks), then skip (it ran) or retry (it did not)`);
        }
      }
      await remote.run(host, command);
      return 'done';
    },
  };
}
