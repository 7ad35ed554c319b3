/**
 * Disks in slots and software RAID1 (mdadm) over their partitions, as in the wiki page "Remplacement de disque
 * physique": the model, what happens at boot and as time passes (md rebuilds), and what people on site do (swap a
 * disk, a disk fails). The tools that show it are in mdadm.ts and partitions.ts.
 */
import { randomUUID } from 'node:crypto';
import type { BaseHostState } from '../../core/types.js';

export const SECTOR = 512;
export const DISK_8TB = 8001563222016;
export const BIOS_BOOT = '21686148-6449-6E6F-744E-656564454649';
export const LINUX_RAID = 'A19D880F-05FC-4D3B-A006-743F0F84911E';

export interface Partition {
  number: number;
  start: number; // sectors
  size: number; // sectors
  type: string;
  uuid: string;
  name?: string;
  /** What blkid would say: linux_raid_member once it carries an md superblock. */
  fstype: string | null;
}

export interface Disk {
  slot: number;
  serial: string;
  model: string;
  sizeBytes: number;
  /** Kernel name (sda...) while the host is up; null while down or before the first boot. */
  kname: string | null;
  label: { id: string; partitions: Partition[] } | null;
  /** What the first 440 bytes (MBR boot code) contain. */
  bootCode: 'grub' | 'zero';
}

export interface Member {
  serial: string;
  partition: number;
  /** The number md gave the device when it joined (the [n] in mdstat). */
  number: number;
  /** Slot in the array, null for a faulty device or an idle spare. */
  raidDevice: number | null;
  state: 'active' | 'faulty' | 'spare';
  rebuildQueuedAt?: number;
  rebuildStartedAt?: number;
}

export interface MdArray {
  name: string; // md0
  uuid: string;
  creationTime: string;
  blocks: number; // KiB
  raidDevices: number;
  bitmap: boolean;
  events: number;
  updateTime: number;
  members: Member[];
}

/** A host with disks in slots and md arrays over them. */
export interface WithDisks extends BaseHostState {
  disks: Disk[];
  arrays: MdArray[];
  resyncBytesPerSecond: number;
  renameOnNextBoot: boolean;
  /** Kernel names of disks pulled out since boot: the kernel does not hand them out again until reboot. */
  retiredNames: string[];
  lastRecoveryEnd: number;
}

/** The disks part of a preset: two 8 TB SATA disks in slots 0 and 1, GPT + md0 (20 GiB) + md1 (rest), both RAID1. */
export interface Raid1Options {
  failedSlot?: number;
  /** Mark failedSlot faulty only in these arrays (the page's case: md0 still [UU], so it needs --fail first). */
  failedOnlyIn?: string[];
  missingSlot?: number;
  resyncBytesPerSecond?: number;
  serials?: [string, string];
}

const SERIAL_CHARS = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
export function randomSerial(): string {
  let s = 'Z';
  for (let i = 0; i < 7; i++) s += SERIAL_CHARS[Math.floor(Math.random() * SERIAL_CHARS.length)];
  return s;
}

export function gptPartitions(sizeBytes: number): Partition[] {
  const lastLba = sizeBytes / SECTOR - 34;
  return [
    { number: 1, start: 2048, size: 4096, type: BIOS_BOOT, uuid: randomUUID().toUpperCase(), name: 'biosboot', fstype: null },
    { number: 2, start: 6144, size: 41943040, type: LINUX_RAID, uuid: randomUUID().toUpperCase(), fstype: 'linux_raid_member' },
    { number: 3, start: 41949184, size: lastLba - 41949184 + 1, type: LINUX_RAID, uuid: randomUUID().toUpperCase(), fstype: 'linux_raid_member' },
  ];
}

export function raid1Disks(opts: Raid1Options = {}): Pick<WithDisks, 'disks' | 'arrays' | 'resyncBytesPerSecond' | 'renameOnNextBoot' | 'retiredNames' | 'lastRecoveryEnd'> {
  const serials = opts.serials ?? ['ZA1E2B3C', 'ZA1F4D5E'];
  const disks: Disk[] = serials.map((serial, slot) => ({
    slot,
    serial,
    model: 'ST8000NM0055-1RM112',
    sizeBytes: DISK_8TB,
    kname: null,
    label: { id: randomUUID().toUpperCase(), partitions: gptPartitions(DISK_8TB) },
    bootCode: 'grub',
  }));
  const now = Date.now();
  const arrays: MdArray[] = [
    { name: 'md0', uuid: '9a8b7c6d:5e4f3a2b:1c0d9e8f:7a6b5c4d', blocks: 20954112, bitmap: false, part: 2 },
    { name: 'md1', uuid: '3c4a1f52:8e0b9d11:5a7c2e90:1d2f3b4c', blocks: 7792962560, bitmap: true, part: 3 },
  ].map(({ part, ...a }) => ({
    ...a,
    creationTime: 'Sat Mar  3 18:02:11 2018',
    raidDevices: 2,
    events: 4711,
    updateTime: now,
    members: disks
      .filter((d) => d.slot !== opts.missingSlot)
      .map((d): Member => d.slot === opts.failedSlot && (!opts.failedOnlyIn || opts.failedOnlyIn.includes(a.name))
        ? { serial: d.serial, partition: part, number: d.slot, raidDevice: null, state: 'faulty' }
        : { serial: d.serial, partition: part, number: d.slot, raidDevice: d.slot, state: 'active' }),
  }));
  return {
    disks,
    arrays,
    resyncBytesPerSecond: opts.resyncBytesPerSecond ?? 2e12,
    renameOnNextBoot: false,
    retiredNames: [],
    lastRecoveryEnd: 0,
  };
}

// ---------------------------------------------------------------- helpers

export function letterIndex(kname: string): number {
  return kname.charCodeAt(2) - 97;
}
export function knameFor(index: number): string {
  return `sd${String.fromCharCode(97 + index)}`;
}
export function diskOf(state: WithDisks, serial: string): Disk | undefined {
  return state.disks.find((d) => d.serial === serial && d.kname !== null);
}
export function memberDev(state: WithDisks, m: Member): string {
  const disk = diskOf(state, m.serial);
  return disk?.kname ? `${disk.kname}${m.partition}` : '(unknown)';
}
export function findDisk(state: WithDisks, path: string): Disk | undefined {
  const m = /^\/dev\/(sd[a-z])$/.exec(path);
  return m ? state.disks.find((d) => d.kname === m[1]) : undefined;
}
export function findPartition(state: WithDisks, path: string): { disk: Disk; part: Partition } | undefined {
  const m = /^\/dev\/(sd[a-z])(\d+)$/.exec(path);
  if (!m) return undefined;
  const disk = state.disks.find((d) => d.kname === m[1]);
  const part = disk?.label?.partitions.find((p) => p.number === Number(m[2]));
  return disk && part ? { disk, part } : undefined;
}
export function arrayBytes(a: MdArray): number {
  return a.blocks * 1024;
}
export function isRebuilding(m: Member): boolean {
  return m.state === 'spare' && m.raidDevice !== null;
}
export function activeCount(a: MdArray): number {
  return a.members.filter((m) => m.state === 'active').length;
}
export function touch(a: MdArray, now: number): void {
  a.events += 1;
  a.updateTime = now;
}

/** Recovery queue, in the order md would run it: one array at a time. */
export function rebuildQueue(state: WithDisks): { array: MdArray; member: Member }[] {
  const queue: { array: MdArray; member: Member }[] = [];
  for (const array of state.arrays) for (const member of array.members) if (isRebuilding(member)) queue.push({ array, member });
  return queue.sort((x, y) => (x.member.rebuildQueuedAt ?? 0) - (y.member.rebuildQueuedAt ?? 0));
}

export function durationMs(state: WithDisks, a: MdArray): number {
  return (arrayBytes(a) / state.resyncBytesPerSecond) * 1000;
}

/** An idle spare takes an empty slot and starts rebuilding, as md does on its own. */
export function promoteSpares(state: WithDisks, a: MdArray, now: number): void {
  for (;;) {
    const used = new Set(a.members.map((m) => m.raidDevice).filter((n) => n !== null));
    let free = -1;
    for (let i = 0; i < a.raidDevices; i++) if (!used.has(i)) { free = i; break; }
    const spare = a.members.find((m) => m.state === 'spare' && m.raidDevice === null);
    if (free < 0 || !spare || activeCount(a) === 0) return;
    spare.raidDevice = free;
    spare.rebuildQueuedAt = now;
    touch(a, now);
  }
}

export function stopRebuild(state: WithDisks, m: Member, now: number): void {
  if (m.rebuildStartedAt !== undefined) state.lastRecoveryEnd = Math.max(state.lastRecoveryEnd, now);
  delete m.rebuildQueuedAt;
  delete m.rebuildStartedAt;
}

/** md's recoveries, one array at a time, up to `now`. */
export function settleDisks(state: WithDisks, now: number): void {
  if (state.power === 'down') return; // md does not resync on a machine that is off
  for (;;) {
    const head = rebuildQueue(state)[0];
    if (!head) return;
    const { array, member } = head;
    member.rebuildStartedAt ??= Math.max(member.rebuildQueuedAt ?? now, state.lastRecoveryEnd);
    const end = member.rebuildStartedAt + durationMs(state, array);
    if (end > now) return;
    member.state = 'active';
    delete member.rebuildQueuedAt;
    delete member.rebuildStartedAt;
    state.lastRecoveryEnd = end;
    touch(array, end);
  }
}

export interface Progress { permille: number; doneBlocks: number; remainingSec: number }
export function progress(state: WithDisks, a: MdArray, m: Member, now: number): Progress | 'delayed' {
  if (m.rebuildStartedAt === undefined) return 'delayed';
  const total = durationMs(state, a);
  const frac = Math.min(1, Math.max(0, (now - m.rebuildStartedAt) / total));
  return {
    permille: Math.floor(frac * 1000),
    doneBlocks: Math.floor(a.blocks * frac),
    remainingSec: Math.ceil(((1 - frac) * total) / 1000),
  };
}

// ---------------------------------------------------------------- boot, swap, failure

/** Disks are named in slot order (or reversed, once); md assembles what it finds. */
export function bootDisks(state: WithDisks, now: number): void {
  const present = [...state.disks].sort((x, y) => x.slot - y.slot);
  if (state.renameOnNextBoot) present.reverse();
  present.forEach((disk, i) => { disk.kname = knameFor(i); });
  state.renameOnNextBoot = false;
  state.retiredNames = [];
  // md assembly: a device marked faulty before a reboot is not assembled again. The lab's first boot
  // keeps the preset as it is: it describes a host found running in that state.
  for (const a of state.bootCount === 0 ? [] : state.arrays) {
    const before = a.members.length;
    a.members = a.members.filter((m) => m.state !== 'faulty' && state.disks.some((d) => d.serial === m.serial));
    if (a.members.length !== before) touch(a, now);
    for (const m of a.members) if (isRebuilding(m)) { m.rebuildQueuedAt = now; delete m.rebuildStartedAt; }
  }
  state.lastRecoveryEnd = now;
}

/** A name means nothing while the host is off. */
export function powerOffDisks(state: WithDisks): void {
  for (const disk of state.disks) disk.kname = null;
}

/** Hot or cold swap of the disk in `slot`. */
export function swapDisk(state: WithDisks, slot: number, now: number, opts: { sizeBytes?: number; serial?: string; model?: string } = {}): Disk {
  const index = state.disks.findIndex((d) => d.slot === slot);
  const old = index >= 0 ? state.disks[index] : undefined;
  const disk: Disk = {
    slot,
    serial: opts.serial ?? randomSerial(),
    model: opts.model ?? 'ST8000NM000A-2KE101',
    sizeBytes: opts.sizeBytes ?? Math.max(old?.sizeBytes ?? DISK_8TB, DISK_8TB),
    kname: null,
    label: null,
    bootCode: 'zero',
  };
  if (old) {
    for (const a of state.arrays) {
      const gone = a.members.filter((m) => m.serial === old.serial);
      for (const m of gone) stopRebuild(state, m, now);
      if (gone.length) { a.members = a.members.filter((m) => m.serial !== old.serial); touch(a, now); }
    }
    if (old.kname) state.retiredNames.push(old.kname);
    state.disks.splice(index, 1);
  }
  if (state.power !== 'down') {
    const used = new Set([...state.disks.map((d) => d.kname), ...state.retiredNames]);
    let i = 0;
    while (used.has(knameFor(i))) i++;
    disk.kname = knameFor(i);
  }
  state.disks.push(disk);
  return disk;
}

export function failDisk(state: WithDisks, slot: number, now: number): void {
  const disk = state.disks.find((d) => d.slot === slot);
  if (!disk) throw new Error(`no disk in slot ${slot}`);
  for (const a of state.arrays) {
    for (const m of a.members) {
      if (m.serial !== disk.serial || m.state === 'faulty') continue;
      stopRebuild(state, m, now);
      m.state = 'faulty';
      m.raidDevice = null;
      touch(a, now);
    }
  }
}
