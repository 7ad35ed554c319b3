/**
 * The LVM commands that change volumes (lvresize -r, lvcreate -s, lvremove, lvconvert --merge) and the root's
 * remount, with LVM's messages. `lvresize -r` runs fsadm, which needs a writable root: on the page's read-only
 * dom0 root it fails until `mount -o remount,rw /`.
 */
import { fail, ok, type CommandResult } from '../../core/types.js';
import { EXTENT_BYTES, findLv, freeExtents, isOpen, lvBytes, parseSize, type LogicalVolume, type WithLvm } from './model.js';

const gib = (extents: number) => `${((extents * EXTENT_BYTES) / 1024 ** 3).toFixed(2)} GiB`;
const mapper = (lv: LogicalVolume) => `/dev/mapper/${lv.vg.replaceAll('-', '--')}-${lv.name.replaceAll('-', '--')}`;

/** Flags without values, `-L SIZE`/`-LSIZE`, `-n NAME`, positional arguments. */
function options(args: string[]): { flags: Set<string>; size?: string; name?: string; rest: string[] } {
  const out: { flags: Set<string>; size?: string; name?: string; rest: string[] } = { flags: new Set(), rest: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-L' || a === '--size') out.size = args[++i];
    else if (a.startsWith('-L') && a.length > 2) out.size = a.slice(2);
    else if (a === '-n' || a === '--name') out.name = args[++i];
    else if (a.startsWith('-') && a.length > 1) out.flags.add(a);
    else out.rest.push(a);
  }
  return out;
}

const notFound = (ref: string) => fail(5, `  Failed to find logical volume "${ref.replace(/^\/dev\//, '')}"\n`);

export function lvresize(state: WithLvm, args: string[]): CommandResult {
  const lvm = state.lvm!;
  const o = options(args);
  const known = new Set(['-r', '--resizefs']);
  if ([...o.flags].some((f) => !known.has(f)) || !o.size || o.rest.length !== 1) {
    return fail(3, 'runbook-lab: the lab simulates "lvresize [-r] -L [+]SIZE VG/LV"\n');
  }
  const lv = findLv(lvm, o.rest[0]!);
  if (!lv) return notFound(o.rest[0]!);
  const size = parseSize(o.size);
  if (!size || size.sign === '-') return fail(3, `runbook-lab: shrinking (-L ${o.size}) is not simulated\n`);
  const target = Math.ceil((size.sign === '+' ? lvBytes(lv) + size.bytes : size.bytes) / EXTENT_BYTES);
  if (target <= lv.extents) return fail(5, `  New size (${target} extents) matches existing size (${lv.extents} extents).\n`);
  const resizefs = o.flags.has('-r') || o.flags.has('--resizefs');
  if (resizefs && state.rootReadOnly) {
    return fail(5, "mktemp: failed to create directory via template '/tmp/fsadm_XXXXXX': Read-only file system\nfsadm: Cannot create TEMP dir.\n  Filesystem check failed.\n");
  }
  if (resizefs && isOpen(state, lv)) {
    return fail(5, `e2fsck: Device or resource busy while trying to open ${mapper(lv)}\nFilesystem mounted or opened exclusively by another program?\n  fsadm failed: 8\n  Filesystem check failed.\n`);
  }
  if (lvm.resizeFails) return fail(5, lvm.resizeFails);
  const free = freeExtents(lvm, lv.vg);
  if (target - lv.extents > free) return fail(5, `  Insufficient free space: ${target - lv.extents} extents needed, but only ${free} available\n`);
  const before = lv.extents;
  lv.extents = target;
  const blocks = (target * EXTENT_BYTES) / 4096;
  const fsck = resizefs ? `fsck from util-linux 2.38.1\n${mapper(lv)}: clean, 11/655360 files, 66753/${(before * EXTENT_BYTES) / 4096} blocks\n` : '';
  const fs = resizefs ? `resize2fs 1.47.0 (5-Feb-2023)\nResizing the filesystem on ${mapper(lv)} to ${blocks} (4k) blocks.\nThe filesystem on ${mapper(lv)} is now ${blocks} (4k) blocks long.\n\n` : '';
  return ok(`${fsck}  Size of logical volume ${lv.vg}/${lv.name} changed from ${gib(before)} (${before} extents) to ${gib(target)} (${target} extents).\n  Logical volume ${lv.vg}/${lv.name} successfully resized.\n${fs}`);
}

export function lvcreate(state: WithLvm, args: string[], now: number): CommandResult {
  const lvm = state.lvm!;
  const o = options(args);
  if (!o.flags.has('-s') || [...o.flags].some((f) => f !== '-s') || !o.size || !o.name || o.rest.length !== 1) {
    return fail(3, 'runbook-lab: the lab simulates "lvcreate -L SIZE -s -n NAME VG/ORIGIN" (snapshots) only\n');
  }
  const origin = findLv(lvm, o.rest[0]!);
  if (!origin) return notFound(o.rest[0]!);
  if (origin.origin) return fail(5, `  Snapshots of snapshots are not supported.\n`);
  if (lvm.lvs.some((l) => l.vg === origin.vg && l.name === o.name)) return fail(5, `  Logical Volume "${o.name}" already exists in volume group "${origin.vg}"\n`);
  const size = parseSize(o.size);
  if (!size || size.sign) return fail(3, `  Invalid argument for --size: ${o.size}\n`);
  const extents = Math.ceil(size.bytes / EXTENT_BYTES);
  const free = freeExtents(lvm, origin.vg);
  if (extents > free) return fail(5, `  Volume group "${origin.vg}" has insufficient free space (${free} extents): ${extents} required.\n`);
  lvm.lvs.push({
    name: o.name, vg: origin.vg, extents, origin: origin.name, content: origin.content, createdAt: now, settledAt: now, usedBytes: 0,
    fillBytesPerSecond: lvm.snapshotFillBytesPerSecond,
  });
  return ok(`  Logical volume "${o.name}" created.\n`);
}

export function lvremove(state: WithLvm, args: string[]): CommandResult {
  const lvm = state.lvm!;
  const o = options(args);
  if (!(o.flags.has('-y') || o.flags.has('-f')) || o.rest.length !== 1) return fail(3, 'runbook-lab: the lab simulates "lvremove -y VG/LV" (it does not prompt)\n');
  const lv = findLv(lvm, o.rest[0]!);
  if (!lv) return notFound(o.rest[0]!);
  if (isOpen(state, lv)) return fail(5, `  Logical volume ${lv.vg}/${lv.name} in use.\n`);
  if (lvm.lvs.some((s) => s.origin === lv.name && s.vg === lv.vg)) return fail(5, `  Logical volume ${lv.vg}/${lv.name} has dependent snapshots: remove them first.\n`);
  lvm.lvs.splice(lvm.lvs.indexOf(lv), 1);
  return ok(`  Logical volume "${lv.name}" successfully removed.\n`);
}

export function lvconvert(state: WithLvm, args: string[]): CommandResult {
  const lvm = state.lvm!;
  if (args.length !== 2 || args[0] !== '--merge') return fail(3, 'runbook-lab: the lab simulates "lvconvert --merge VG/SNAPSHOT" only\n');
  const snap = findLv(lvm, args[1]!);
  if (!snap) return notFound(args[1]!);
  if (!snap.origin) return fail(5, `  Command on LV ${snap.vg}/${snap.name} uses options that require LV types thin or snapshot.\n`);
  if (snap.invalid) return fail(5, `  Unable to merge invalidated snapshot LV "${snap.name}".\n`);
  const origin = lvm.lvs.find((l) => l.vg === snap.vg && l.name === snap.origin)!;
  // LVM delays the merge of an open origin to its next activation; the runbook stops the guest first, so the lab refuses.
  if (isOpen(state, origin)) return fail(5, `runbook-lab: ${origin.vg}/${origin.name} is open (its guest runs): the merge would wait for its next activation, which the lab does not simulate\n`);
  origin.content = snap.content;
  lvm.lvs.splice(lvm.lvs.indexOf(snap), 1);
  return ok(`  Merging of volume ${snap.vg}/${snap.name} started.\n  ${origin.vg}/${origin.name}: Merged: 100.00%\n`);
}

export function mount(state: WithLvm, args: string[]): CommandResult | null {
  if (args.length !== 3 || args[0] !== '-o' || args[2] !== '/' || !/^remount,(rw|ro)$/.test(args[1]!)) return null;
  state.rootReadOnly = args[1] === 'remount,ro';
  return { ...ok(), ...(state.remountMs ? { replyAfterMs: state.remountMs } : {}) };
}

export function findmnt(state: WithLvm, args: string[]): CommandResult | null {
  if (args.join(' ') !== '--noheadings --output OPTIONS /') return null;
  return ok(`${state.rootReadOnly ? 'ro' : 'rw'},relatime,errors=remount-ro\n`);
}
