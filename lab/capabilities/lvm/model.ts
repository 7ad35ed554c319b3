/**
 * LVM on a simulated host: volume groups with 4 MiB extents, logical volumes sized in extents, snapshots whose
 * copy-on-write space fills as time passes (a full one is invalid, as the Xen page warns), and the host's root
 * filesystem, read-only on the page's dom0 until `mount -o remount,rw /`. Each LV carries a content label so a
 * test can tell a restored volume from a changed one.
 */
import type { WithDomains } from '../xen/xl.js';

export const EXTENT_BYTES = 4 * 1024 ** 2;
export const GiB = 1024 ** 3;

export interface LogicalVolume {
  name: string;
  vg: string;
  extents: number;
  /** The Xen guest whose disk it is: open while that guest runs. */
  guest?: string;
  /** What the volume holds, as a label (e.g. "guest1_root@v1"): a merge or restore brings an older one back. */
  content: string;
  /** Snapshots: the origin LV, and how full its copy-on-write space is. */
  origin?: string;
  createdAt?: number;
  /** Copy-on-write bytes used when last settled, and how fast the origin's writes fill it. */
  usedBytes?: number;
  fillBytesPerSecond?: number;
  settledAt?: number;
  /** A full snapshot is dropped by the kernel: LVM marks it invalid (attr I). */
  invalid?: boolean;
}

export interface VolumeGroup {
  name: string;
  extents: number;
}

export interface LvmState {
  vgs: VolumeGroup[];
  lvs: LogicalVolume[];
  /** Stderr of a failing `lvresize` (e.g. a filesystem check that finds errors); cleared by the lab. */
  resizeFails?: string;
  /** How fast new snapshots fill, in bytes per second of the origin's writes. */
  snapshotFillBytesPerSecond: number;
}

export interface WithLvm extends WithDomains {
  lvm?: LvmState;
  /** The root filesystem's mount: the Xen page's dom0 keeps it read-only. */
  rootReadOnly?: boolean;
  /** How long `mount -o remount,...` takes to answer (it flushes): a test kills the worker in between. */
  remountMs?: number;
  /** How long `lvresize -r` runs as a detached job (fsadm growing the filesystem); 2 s unless set. */
  resizeJobMs?: number;
}

export interface LvmOptions {
  vg?: string;
  vgSizeBytes?: number;
  /** Logical volumes: name, size in bytes, the guest using it. */
  volumes?: { name: string; sizeBytes: number; guest?: string }[];
  snapshotFillBytesPerSecond?: number;
  rootReadOnly?: boolean;
  remountMs?: number;
  resizeJobMs?: number;
}

const toExtents = (bytes: number) => Math.ceil(bytes / EXTENT_BYTES);

export function lvmState(opts: LvmOptions = {}): Pick<WithLvm, 'lvm' | 'rootReadOnly' | 'remountMs' | 'resizeJobMs'> {
  const vg = opts.vg ?? 'vg0';
  return {
    rootReadOnly: opts.rootReadOnly ?? true,
    ...(opts.remountMs ? { remountMs: opts.remountMs } : {}),
    ...(opts.resizeJobMs ? { resizeJobMs: opts.resizeJobMs } : {}),
    lvm: {
      vgs: [{ name: vg, extents: toExtents(opts.vgSizeBytes ?? 200 * GiB) }],
      lvs: (opts.volumes ?? []).map((v) => ({ name: v.name, vg, extents: toExtents(v.sizeBytes), content: `${v.name}@v1`, ...(v.guest ? { guest: v.guest } : {}) })),
      snapshotFillBytesPerSecond: opts.snapshotFillBytesPerSecond ?? 1024 * 1024,
    },
  };
}

export const lvBytes = (lv: LogicalVolume) => lv.extents * EXTENT_BYTES;

export function freeExtents(lvm: LvmState, vg: string): number {
  const group = lvm.vgs.find((g) => g.name === vg);
  return group ? group.extents - lvm.lvs.filter((l) => l.vg === vg).reduce((n, l) => n + l.extents, 0) : 0;
}

/** `vg0/lv`, `/dev/vg0/lv` or `/dev/mapper/vg0-lv` → the volume, if it exists. */
export function findLv(lvm: LvmState, ref: string): LogicalVolume | undefined {
  const m = /^(?:\/dev\/)?([A-Za-z0-9_.+-]+)\/([A-Za-z0-9_.+-]+)$/.exec(ref);
  return m ? lvm.lvs.find((l) => l.vg === m[1] && l.name === m[2]) : undefined;
}

/** Open: the guest using it runs (or one of its snapshots' origin is open). */
export function isOpen(state: WithLvm, lv: LogicalVolume): boolean {
  return !!lv.guest && (state.domains ?? []).some((d) => d.name === lv.guest && d.state !== 'stopped');
}

/** LVM's size arguments: a number with an optional unit (b, s, k, m, g, t; either case, powers of 1024), MiB by default. */
export function parseSize(text: string): { sign: '+' | '-' | ''; bytes: number } | null {
  const m = /^([+-]?)(\d+(?:\.\d+)?)([bBsSkKmMgGtTpP]?)$/.exec(text);
  if (!m) return null;
  const unit = { b: 1, s: 512, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5, '': 1024 ** 2 }[m[3]!.toLowerCase()]!;
  return { sign: m[1] as '+' | '-' | '', bytes: Math.round(Number(m[2]) * unit) };
}

/** Snapshots fill at their rate as time passes (the lab's stand-in for the origin's writes); a full one is invalid. */
export function settleSnapshots(state: WithLvm, now: number): void {
  for (const snap of state.lvm?.lvs ?? []) {
    if (!snap.origin || snap.invalid) continue;
    const since = snap.settledAt ?? snap.createdAt ?? now;
    snap.usedBytes = Math.min(lvBytes(snap), (snap.usedBytes ?? 0) + ((now - since) / 1000) * (snap.fillBytesPerSecond ?? 0));
    snap.settledAt = now;
    if (snap.usedBytes >= lvBytes(snap)) snap.invalid = true;
  }
}

export function snapPercent(lv: LogicalVolume): string {
  return lv.origin ? (lv.invalid ? 100 : (100 * (lv.usedBytes ?? 0)) / lvBytes(lv)).toFixed(2) : '';
}
