/**
 * LVM on a Xen dom0 and its read-only root. Reads return the numbers the runbook decides with; each change checks
 * first whether it is made already (a retried activity finds the earlier attempt's work done).
 */
import { lvm, rootfs, type Command } from '../common/commands.js';
import { parseRootMode, parseSnapPercent, parseVolumeGroup, parseVolumeSize } from './parsers/lvm.js';
import type { Outcome } from './raid/activities.js';
import type { RemoteShell } from './ssh/remote.js';

export interface VolumeSpace {
  vg: string;
  extentBytes: number;
  vgFreeBytes: number;
  lv: string;
  lvSizeBytes: number;
}

export function lvmActivities(remote: RemoteShell) {
  const sizeOf = async (host: string, vg: string, lv: string) => parseVolumeSize((await remote.run(host, lvm.volume(vg, lv))).stdout, lv);
  const rootMode = async (host: string) => parseRootMode((await remote.run(host, rootfs.options())).stdout);

  return {
    /** The volume group's free space and the volume's size, in bytes. */
    async readVolumeSpace(host: string, vg: string, lv: string): Promise<VolumeSpace> {
      const group = parseVolumeGroup((await remote.run(host, lvm.volumeGroup(vg))).stdout, vg);
      return { vg, extentBytes: group.extentBytes, vgFreeBytes: group.freeBytes, lv, lvSizeBytes: await sizeOf(host, vg, lv) };
    },

    readRootMode: rootMode,

    /** `mount -o remount,MODE /` unless the root is mounted so already. */
    async remountRoot(host: string, mode: 'rw' | 'ro', command: Command): Promise<Outcome> {
      if ((await rootMode(host)) === mode) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /** A snapshot's origin and the origin's size (what a dd of the snapshot reads); null when `lv` is no snapshot. */
    async readSnapshot(host: string, vg: string, lv: string): Promise<{ origin: string; originBytes: number } | null> {
      const origin = (await remote.run(host, lvm.originOf(vg, lv))).stdout.trim();
      return origin ? { origin, originBytes: await sizeOf(host, vg, origin) } : null;
    },

    /** Whether the volume (or snapshot) exists. */
    async volumeExists(host: string, vg: string, lv: string): Promise<boolean> {
      return (await remote.run(host, lvm.volume(vg, lv), { allowFailure: true })).exitCode === 0;
    },

    /**
     * A planned change that makes a volume exist or stop existing (lvcreate -s; lvremove, lvconvert --merge), run
     * unless the volume is already as wanted.
     */
    async changeVolume(host: string, volume: { vg: string; lv: string; exists: boolean }, command: Command): Promise<Outcome> {
      const now = (await remote.run(host, lvm.volume(volume.vg, volume.lv), { allowFailure: true })).exitCode === 0;
      if (now === volume.exists) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /**
     * How full a snapshot's copy-on-write space is, in percent; null once it is gone (removed or merged back): one
     * look per poll of the fill watch, with no window between "does it exist" and "how full".
     */
    async readSnapshotFill(host: string, vg: string, snapshot: string): Promise<number | null> {
      const read = await remote.run(host, lvm.snapshotFill(vg, snapshot), { allowFailure: true });
      if (read.exitCode === 0) return parseSnapPercent(read.stdout);
      if ((await remote.run(host, lvm.volume(vg, snapshot), { allowFailure: true })).exitCode !== 0) return null;
      // It exists, yet lvs failed: run it again and let its error tell why.
      return parseSnapPercent((await remote.run(host, lvm.snapshotFill(vg, snapshot))).stdout);
    },
  };
}
