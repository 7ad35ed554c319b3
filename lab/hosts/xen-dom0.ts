/**
 * A simulated Xen dom0 with software RAID1 (mdadm) over two SATA disks, as in the wiki page
 * "Remplacement de disque physique". Outputs follow test/fixtures/outputs/ byte for byte.
 */
import { randomUUID } from 'node:crypto';
import { kernelBootId } from './luks.js';
import { ok, fail, type BaseHostState, type CommandResult, type ExecContext, type HostSimulator, type LabHostSpec, type NeedStdin } from './types.js';

export const SECTOR = 512;
export const DISK_8TB = 8001563222016;
export const BIOS_BOOT = '21686148-6449-6E6F-744E-656564454649';
export const LINUX_RAID = 'A19D880F-05FC-4D3B-A006-743F0F84911E';
const TYPE_NAMES: Record<string, string> = {
  [BIOS_BOOT]: 'BIOS boot',
  [LINUX_RAID]: 'Linux RAID',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI System',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
};
const PERSONALITIES = 'Personalities : [raid1] [linear] [multipath] [raid0] [raid6] [raid5] [raid4] [raid10] ';
const MD_DATA_OFFSET = 17825792; // bytes a member partition loses to the superblock and data offset

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

export interface XenDom0State extends BaseHostState {
  kind: 'xen-dom0';
  disks: Disk[];
  arrays: MdArray[];
  resyncBytesPerSecond: number;
  renameOnNextBoot: boolean;
  /** Kernel names of disks pulled out since boot: the kernel does not hand them out again until reboot. */
  retiredNames: string[];
  lastRecoveryEnd: number;
  /** Xen guests (domUs); absent on presets without guests. */
  domains?: XenDomain[];
  /** The next domain id xl hands out: ids grow during a boot and are never reused. */
  nextDomainId?: number;
  bootedAt?: number;
}

/** A Xen guest, running or not, and the xl configuration it starts from. */
export interface XenDomain {
  name: string;
  /** `xl create CONFIG` starts it. */
  config: string;
  memMiB: number;
  vcpus: number;
  state: 'running' | 'shutting-down' | 'stopped';
  /** Domain id while it exists (running or shutting down). */
  id: number | null;
  /** How long the guest takes to shut down once asked. */
  shutdownMs: number;
  /** The guest ignores the shutdown request: only `xl destroy` stops it. */
  hangsOnShutdown?: boolean;
  startedAt?: number;
  shutdownRequestedAt?: number;
}

export interface XenDomainOptions {
  name: string;
  config?: string;
  memMiB?: number;
  vcpus?: number;
  shutdownMs?: number;
  hangsOnShutdown?: boolean;
  /** Running when the lab finds the dom0 (first boot); default true. */
  running?: boolean;
}

export interface XenDom0Options {
  failedSlot?: number;
  /** Mark failedSlot faulty only in these arrays (the page's case: md0 still [UU], so it needs --fail first). */
  failedOnlyIn?: string[];
  missingSlot?: number;
  resyncBytesPerSecond?: number;
  bootDelayMs?: number;
  serials?: [string, string];
  /** Guests (domUs) of this dom0; none by default. */
  domains?: XenDomainOptions[];
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

export function xenDom0Preset(name: string, opts: XenDom0Options = {}): XenDom0State {
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
    name,
    kind: 'xen-dom0',
    power: 'down',
    bootCount: 0,
    bootDelayMs: opts.bootDelayMs ?? 3000,
    disks,
    arrays,
    resyncBytesPerSecond: opts.resyncBytesPerSecond ?? 2e12,
    renameOnNextBoot: false,
    retiredNames: [],
    lastRecoveryEnd: 0,
    ...(opts.domains ? {
      domains: opts.domains.map((d): XenDomain => ({
        name: d.name,
        config: d.config ?? `/etc/xen/${d.name}.cfg`,
        memMiB: d.memMiB ?? 1024,
        vcpus: d.vcpus ?? 1,
        // Kept as the first boot's wish: boot() gives the running ones their ids.
        state: d.running === false ? 'stopped' : 'running',
        id: null,
        shutdownMs: d.shutdownMs ?? 2000,
        ...(d.hangsOnShutdown ? { hangsOnShutdown: true } : {}),
      })),
    } : {}),
  };
}

/**
 * The guests of the Xen page's "Ordre d'arrêt des VMs", with dependencies that give its order: the passive HA
 * firewall and the clients first, then the public server, then the private servers (NFS, LAN/DNS), the firewall
 * last. Everything sits behind the firewall.
 */
export const XEN_PAGE_GUESTS: { name: string; dependsOn: string[] }[] = [
  { name: 'firewall', dependsOn: [] },
  { name: 'firewall-slave', dependsOn: ['firewall'] },
  { name: 'srvnfs', dependsOn: ['firewall'] },
  { name: 'srvlan', dependsOn: ['firewall'] },
  { name: 'srvpub', dependsOn: ['firewall', 'srvnfs', 'srvlan'] },
  { name: 'guest1', dependsOn: ['firewall', 'srvnfs', 'srvlan'] },
  { name: 'guest2', dependsOn: ['firewall', 'srvnfs', 'srvlan', 'srvpub'] },
  { name: 'machin', dependsOn: ['firewall'] },
];

/**
 * A dom0 running the page's guests (created in the list's order, firewall first), its LabHostSpec carrying the
 * dependency graph for the inventory. `domains` tunes single guests by name (e.g. `{ guest2: { hangsOnShutdown: true } }`).
 */
export function xenDom0WithGuests(
  name: string,
  opts: Omit<XenDom0Options, 'domains'> & { domains?: Record<string, Partial<XenDomainOptions>> } = {},
): LabHostSpec<XenDom0State> {
  const { domains: tweaks, ...rest } = opts;
  const memMiB: Record<string, number> = { firewall: 512, 'firewall-slave': 512, srvnfs: 2048, srvlan: 1024, srvpub: 2048 };
  const domains = XEN_PAGE_GUESTS.map((g): XenDomainOptions => ({ name: g.name, memMiB: memMiB[g.name] ?? 1024, ...tweaks?.[g.name] }));
  const state = xenDom0Preset(name, { ...rest, domains });
  return {
    name, kind: 'xen-dom0', state,
    location: 'lab: simulated dom0, disks in slots 0 and 1, guests of the page',
    guests: (state.domains ?? []).map((d) => ({ name: d.name, config: d.config, dependsOn: XEN_PAGE_GUESTS.find((g) => g.name === d.name)?.dependsOn ?? [] })),
  };
}

// ---------------------------------------------------------------- helpers

function letterIndex(kname: string): number {
  return kname.charCodeAt(2) - 97;
}
function knameFor(index: number): string {
  return `sd${String.fromCharCode(97 + index)}`;
}
function diskOf(state: XenDom0State, serial: string): Disk | undefined {
  return state.disks.find((d) => d.serial === serial && d.kname !== null);
}
function memberDev(state: XenDom0State, m: Member): string {
  const disk = diskOf(state, m.serial);
  return disk?.kname ? `${disk.kname}${m.partition}` : '(unknown)';
}
function findDisk(state: XenDom0State, path: string): Disk | undefined {
  const m = /^\/dev\/(sd[a-z])$/.exec(path);
  return m ? state.disks.find((d) => d.kname === m[1]) : undefined;
}
function findPartition(state: XenDom0State, path: string): { disk: Disk; part: Partition } | undefined {
  const m = /^\/dev\/(sd[a-z])(\d+)$/.exec(path);
  if (!m) return undefined;
  const disk = state.disks.find((d) => d.kname === m[1]);
  const part = disk?.label?.partitions.find((p) => p.number === Number(m[2]));
  return disk && part ? { disk, part } : undefined;
}
function arrayBytes(a: MdArray): number {
  return a.blocks * 1024;
}
function isRebuilding(m: Member): boolean {
  return m.state === 'spare' && m.raidDevice !== null;
}
function activeCount(a: MdArray): number {
  return a.members.filter((m) => m.state === 'active').length;
}
function ctime(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getDay()]} ${months[d.getMonth()]} ${String(d.getDate()).padStart(2)} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}
function touch(a: MdArray, now: number): void {
  a.events += 1;
  a.updateTime = now;
}

/** Recovery queue, in the order md would run it: one array at a time. */
function rebuildQueue(state: XenDom0State): { array: MdArray; member: Member }[] {
  const queue: { array: MdArray; member: Member }[] = [];
  for (const array of state.arrays) for (const member of array.members) if (isRebuilding(member)) queue.push({ array, member });
  return queue.sort((x, y) => (x.member.rebuildQueuedAt ?? 0) - (y.member.rebuildQueuedAt ?? 0));
}

function durationMs(state: XenDom0State, a: MdArray): number {
  return (arrayBytes(a) / state.resyncBytesPerSecond) * 1000;
}

/** An idle spare takes an empty slot and starts rebuilding, as md does on its own. */
function promoteSpares(state: XenDom0State, a: MdArray, now: number): void {
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

function stopRebuild(state: XenDom0State, m: Member, now: number): void {
  if (m.rebuildStartedAt !== undefined) state.lastRecoveryEnd = Math.max(state.lastRecoveryEnd, now);
  delete m.rebuildQueuedAt;
  delete m.rebuildStartedAt;
}

export function settle(state: XenDom0State, now: number): void {
  if (state.power === 'down') return; // md does not resync on a machine that is off
  for (const d of state.domains ?? []) {
    if (d.state === 'shutting-down' && !d.hangsOnShutdown && (d.shutdownRequestedAt ?? now) + d.shutdownMs <= now) stopDomain(d);
  }
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

interface Progress { permille: number; doneBlocks: number; remainingSec: number }
function progress(state: XenDom0State, a: MdArray, m: Member, now: number): Progress | 'delayed' {
  if (m.rebuildStartedAt === undefined) return 'delayed';
  const total = durationMs(state, a);
  const frac = Math.min(1, Math.max(0, (now - m.rebuildStartedAt) / total));
  return {
    permille: Math.floor(frac * 1000),
    doneBlocks: Math.floor(a.blocks * frac),
    remainingSec: Math.ceil(((1 - frac) * total) / 1000),
  };
}

// ---------------------------------------------------------------- renderers

function renderMdstat(state: XenDom0State, now: number): string {
  let out = `${PERSONALITIES}\n`;
  const arrays = [...state.arrays].sort((x, y) => Number(y.name.slice(2)) - Number(x.name.slice(2)));
  for (const a of arrays) {
    const members = [...a.members].sort((x, y) => y.number - x.number);
    const devs = members.map((m) => `${memberDev(state, m)}[${m.number}]${m.state === 'faulty' ? '(F)' : ''}`).join(' ');
    const flags = Array.from({ length: a.raidDevices }, (_, i) =>
      a.members.some((m) => m.raidDevice === i && m.state === 'active') ? 'U' : '_').join('');
    const up = flags.split('').filter((c) => c === 'U').length;
    out += `${a.name} : active raid1 ${devs}\n`;
    out += `      ${a.blocks} blocks super 1.2 [${a.raidDevices}/${up}] [${flags}]\n`;
    const rebuilding = a.members.find(isRebuilding);
    if (rebuilding) {
      const p = progress(state, a, rebuilding, now);
      if (p === 'delayed') out += '        resync=DELAYED\n';
      else {
        const x = Math.floor(p.permille / 50);
        const bar = `[${'='.repeat(x)}>${'.'.repeat(20 - x)}]`;
        const finish = `${Math.floor(p.remainingSec / 60)}.${Math.floor((p.remainingSec % 60) / 6)}min`;
        const speed = Math.round(state.resyncBytesPerSecond / 1024);
        out += `      ${bar}  recovery = ${Math.floor(p.permille / 10)}.${p.permille % 10}% (${p.doneBlocks}/${a.blocks}) finish=${finish} speed=${speed}K/sec\n`;
      }
    }
    if (a.bitmap) {
      const degraded = up < a.raidDevices;
      out += `      bitmap: ${degraded ? '3' : '0'}/59 pages [${degraded ? '12' : '0'}KB], 65536KB chunk\n\n`;
    } else out += '      \n';
  }
  return `${out}unused devices: <none>\n`;
}

function humanMd(kib: number): string {
  const bytes = kib * 1024;
  const two = (n: number) => n.toFixed(2);
  if (bytes < 2 ** 31) return `${two(bytes / 2 ** 20)} MiB ${two(bytes / 1e6)} MB`;
  if (bytes < 2 ** 40) return `${two(bytes / 2 ** 30)} GiB ${two(bytes / 1e9)} GB`;
  return `${two(bytes / 2 ** 40)} TiB ${two(bytes / 1e12)} TB`;
}

function deviceRow(state: XenDom0State, m: Member | null, slot: number | null, label: string): string {
  if (!m) return `${'-'.padStart(8)}${'0'.padStart(8)}${'0'.padStart(9)}${String(slot).padStart(9)}      removed`;
  const disk = diskOf(state, m.serial);
  const minor = disk?.kname ? letterIndex(disk.kname) * 16 + m.partition : 0;
  const rd = m.raidDevice === null || m.state === 'faulty' ? '-' : String(m.raidDevice);
  return `${String(m.number).padStart(8)}${'8'.padStart(8)}${String(minor).padStart(9)}${rd.padStart(9)}      ${label}   /dev/${memberDev(state, m)}`;
}

function renderDetail(state: XenDom0State, a: MdArray, now: number): string {
  const line = (k: string, v: string | number) => `${k.padStart(18)} : ${v}\n`;
  const active = activeCount(a);
  const faulty = a.members.filter((m) => m.state === 'faulty').length;
  const spares = a.members.filter((m) => m.state === 'spare').length;
  const rebuilding = a.members.find(isRebuilding);
  const p = rebuilding ? progress(state, a, rebuilding, now) : undefined;
  let st = 'clean';
  if (active < a.raidDevices) st += ', degraded';
  if (p === 'delayed') st += ', resyncing (DELAYED)';
  else if (p) st += ', recovering';
  let out = `/dev/${a.name}:\n`;
  out += line('Version', '1.2');
  out += line('Creation Time', a.creationTime);
  out += line('Raid Level', 'raid1');
  out += line('Array Size', `${a.blocks} (${humanMd(a.blocks)})`);
  out += line('Used Dev Size', `${a.blocks} (${humanMd(a.blocks)})`);
  out += line('Raid Devices', a.raidDevices);
  out += line('Total Devices', a.members.length);
  out += line('Persistence', 'Superblock is persistent');
  out += '\n';
  if (a.bitmap) out += `${line('Intent Bitmap', 'Internal')}\n`;
  out += line('Update Time', ctime(a.updateTime));
  out += line('State', `${st} `);
  out += line('Active Devices', active);
  out += line('Working Devices', a.members.length - faulty);
  out += line('Failed Devices', faulty);
  out += line('Spare Devices', spares);
  out += '\n';
  out += line('Consistency Policy', a.bitmap ? 'bitmap' : 'resync');
  out += '\n';
  if (p && p !== 'delayed') out += `${line('Rebuild Status', `${Math.floor(p.permille / 10)}% complete`)}\n`;
  out += line('Name', `${state.name}:${a.name.slice(2)}  (local to host ${state.name})`);
  out += line('UUID', a.uuid);
  out += line('Events', a.events);
  out += '\n';
  out += '    Number   Major   Minor   RaidDevice State\n';
  for (let slot = 0; slot < a.raidDevices; slot++) {
    const m = a.members.find((x) => x.raidDevice === slot && x.state !== 'faulty');
    out += `${deviceRow(state, m ?? null, slot, m ? (m.state === 'active' ? 'active sync' : 'spare rebuilding') : '')}\n`;
  }
  const others = a.members.filter((m) => m.state === 'faulty' || (m.state === 'spare' && m.raidDevice === null));
  if (others.length) {
    out += '\n';
    for (const m of others) out += `${deviceRow(state, m, null, m.state === 'faulty' ? 'faulty' : 'spare')}\n`;
  }
  return out;
}

interface LsblkNode { [key: string]: string | number | null | LsblkNode[] }

function renderJson(value: LsblkNode, indent: number): string {
  const pad = ' '.repeat(indent + 3);
  const entries = Object.entries(value).map(([k, v]) => {
    if (Array.isArray(v)) {
      return `${pad}"${k}": [\n${' '.repeat(indent + 6)}${v.map((n) => renderJson(n, indent + 6)).join(',')}\n${pad}]`;
    }
    return `${pad}"${k}": ${JSON.stringify(v)}`;
  });
  return `{\n${entries.join(',\n')}\n${' '.repeat(indent)}}`;
}

function renderLsblk(state: XenDom0State): string {
  const disks = state.disks.filter((d) => d.kname).sort((x, y) => x.kname!.localeCompare(y.kname!));
  const nodes = disks.map((disk): LsblkNode => {
    const node: LsblkNode = {
      name: disk.kname, kname: disk.kname, pkname: null, type: 'disk', size: disk.sizeBytes,
      serial: disk.serial, model: disk.model, fstype: null,
    };
    const parts = disk.label?.partitions ?? [];
    if (parts.length) {
      node.children = parts.map((part): LsblkNode => {
        const name = `${disk.kname}${part.number}`;
        const p: LsblkNode = {
          name, kname: name, pkname: disk.kname, type: 'part', size: part.size * SECTOR,
          serial: null, model: null, fstype: part.fstype,
        };
        const holders = state.arrays.filter((a) => a.members.some((m) => m.serial === disk.serial && m.partition === part.number));
        if (holders.length) {
          p.children = holders.map((a): LsblkNode => ({
            name: a.name, kname: a.name, pkname: name, type: 'raid1', size: arrayBytes(a),
            serial: null, model: null, fstype: 'LVM2_member',
          }));
        }
        return p;
      });
    }
    return node;
  });
  return `${renderJson({ blockdevices: nodes }, 0)}\n`;
}

function renderDump(disk: Disk): string {
  const label = disk.label!;
  let out = 'label: gpt\n';
  out += `label-id: ${label.id}\n`;
  out += `device: /dev/${disk.kname}\n`;
  out += 'unit: sectors\n';
  out += 'first-lba: 2048\n';
  out += `last-lba: ${disk.sizeBytes / SECTOR - 34}\n`;
  out += 'sector-size: 512\n\n';
  for (const p of label.partitions) {
    out += `/dev/${disk.kname}${p.number} : start=${String(p.start).padStart(12)}, size=${String(p.size).padStart(12)}, type=${p.type}, uuid=${p.uuid}`;
    out += p.name ? `, name="${p.name}"\n` : '\n';
  }
  return out;
}

/** util-linux size_to_human_string: one or two decimals, dropped when zero. */
function humanSize(bytes: number, digits: number, spaced: boolean): string {
  const units = ['B', 'K', 'M', 'G', 'T', 'P'];
  let exp = 0;
  while (exp < units.length - 1 && bytes >= 1024 ** (exp + 1)) exp++;
  const value = bytes / 1024 ** exp;
  let text = (Math.round(value * 10 ** digits) / 10 ** digits).toFixed(digits);
  text = text.replace(/\.?0+$/, '');
  if (!spaced) return `${text}${units[exp]}`;
  return `${text} ${exp === 0 ? 'B' : `${units[exp]}iB`}`;
}

// ---------------------------------------------------------------- commands

function cmdMdadm(state: XenDom0State, args: string[], now: number): CommandResult {
  if (args[0] === '--detail' || args[0] === '-D') {
    const dev = args[1];
    if (!dev || args.length > 2) return fail(2, 'mdadm: --detail needs exactly one md device in the lab\n');
    const a = state.arrays.find((x) => `/dev/${x.name}` === dev);
    if (!a) return fail(1, `mdadm: cannot open ${dev}: No such file or directory\n`);
    return ok(renderDetail(state, a, now));
  }
  let rest = args;
  if (rest[0] === '--manage') rest = rest.slice(1);
  const mdPath = rest[0];
  if (!mdPath || !/^\/dev\/md\d+$/.test(mdPath)) return fail(2, 'mdadm: an md device must be given in --manage mode\n');
  const a = state.arrays.find((x) => `/dev/${x.name}` === mdPath);
  if (!a) return fail(1, `mdadm: error opening ${mdPath}: No such file or directory\n`);
  let op: 'fail' | 'remove' | 'add' | null = null;
  let stderr = '';
  const ops: Record<string, 'fail' | 'remove' | 'add'> = { '--fail': 'fail', '-f': 'fail', '--remove': 'remove', '-r': 'remove', '--add': 'add', '-a': 'add' };
  if (rest.length < 2) return fail(2, `mdadm: no devices given for ${mdPath}\n`);
  for (const word of rest.slice(1)) {
    if (word in ops) { op = ops[word]!; continue; }
    if (word.startsWith('-')) return fail(2, `mdadm: unrecognised option ${word}\n`);
    if (!op) return fail(2, `mdadm: ${word} given without an operation (--fail, --remove, --add)\n`);
    const found = findPartition(state, word);
    if (!found) return fail(1, `${stderr}mdadm: Cannot find ${word}: No such file or directory\n`);
    const member = a.members.find((m) => m.serial === found.disk.serial && m.partition === found.part.number);
    if (op === 'fail') {
      if (!member) return fail(1, `${stderr}mdadm: set device faulty failed for ${word}: No such device\n`);
      if (member.state === 'active' && activeCount(a) === 1) return fail(1, `${stderr}mdadm: set device faulty failed for ${word}: Device or resource busy\n`);
      if (member.state !== 'faulty') {
        stopRebuild(state, member, now);
        member.state = 'faulty';
        member.raidDevice = null;
        touch(a, now);
      }
      stderr += `mdadm: set ${word} faulty in ${mdPath}\n`;
    } else if (op === 'remove') {
      if (!member) return fail(1, `${stderr}mdadm: hot remove failed for ${word}: No such device or address\n`);
      if (member.state === 'active' || isRebuilding(member)) return fail(1, `${stderr}mdadm: hot remove failed for ${word}: Device or resource busy\n`);
      a.members = a.members.filter((m) => m !== member);
      touch(a, now);
      stderr += `mdadm: hot removed ${word} from ${mdPath}\n`;
    } else {
      const busy = state.arrays.some((x) => x.members.some((m) => m.serial === found.disk.serial && m.partition === found.part.number));
      if (busy) return fail(1, `${stderr}mdadm: Cannot open ${word}: Device or resource busy\n`);
      if (found.part.size * SECTOR < arrayBytes(a) + MD_DATA_OFFSET) return fail(1, `${stderr}mdadm: ${word} not large enough to join array\n`);
      const number = Math.max(a.raidDevices - 1, ...a.members.map((m) => m.number)) + 1;
      a.members.push({ serial: found.disk.serial, partition: found.part.number, number, raidDevice: null, state: 'spare' });
      found.part.fstype = 'linux_raid_member';
      touch(a, now);
      promoteSpares(state, a, now);
      stderr += `mdadm: added ${word}\n`;
    }
  }
  return ok('', stderr);
}

function parseScript(text: string): { header: string[]; parts: Omit<Partition, 'fstype'>[]; labelId?: string } | string {
  const header: string[] = [];
  const parts: Omit<Partition, 'fstype'>[] = [];
  let labelId: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const hm = /^([a-z-]+):\s*(.*)$/.exec(line);
    if (hm && !line.includes('=')) {
      header.push(line);
      if (hm[1] === 'label' && hm[2] !== 'gpt') return `unsupported label type ${hm[2]} (the lab only simulates GPT)`;
      if (hm[1] === 'label-id') labelId = hm[2];
      continue;
    }
    let body = line;
    let number = parts.length ? parts[parts.length - 1]!.number + 1 : 1;
    const dm = /^(\/dev\/\S+?)(\d+)\s*:\s*(.*)$/.exec(line);
    if (dm) { number = Number(dm[2]); body = dm[3]!; }
    const fields: Record<string, string> = {};
    for (const m of body.matchAll(/([a-z]+)=\s*("([^"]*)"|[^,\s]+)/g)) fields[m[1]!] = m[3] ?? m[2]!;
    const prev = parts[parts.length - 1];
    const start = fields.start !== undefined ? Number(fields.start) : prev ? prev.start + prev.size : 2048;
    const size = fields.size !== undefined ? Number(fields.size) : NaN;
    if (!Number.isFinite(start) || !Number.isFinite(size)) return `line "${line}": start and size must be given in sectors`;
    parts.push({
      number, start, size,
      type: (fields.type ?? LINUX_RAID).toUpperCase(),
      uuid: (fields.uuid ?? randomUUID()).toUpperCase(),
      ...(fields.name ? { name: fields.name } : {}),
    });
  }
  return labelId ? { header, parts, labelId } : { header, parts };
}

function cmdSfdisk(state: XenDom0State, args: string[], ctx: ExecContext): CommandResult | NeedStdin {
  if (args[0] === '--dump' || args[0] === '-d') {
    const dev = args[1];
    if (!dev || args.length > 2) return fail(1, 'sfdisk: --dump needs exactly one disk in the lab\n');
    const disk = findDisk(state, dev);
    if (!disk) return fail(1, `sfdisk: cannot open ${dev}: No such file or directory\n`);
    if (!disk.label) return fail(1, `sfdisk: ${dev}: does not contain a recognized partition table\n`);
    return ok(renderDump(disk));
  }
  if (args.length !== 1 || args[0]!.startsWith('-')) return fail(1, `sfdisk: the lab simulates only "sfdisk --dump DISK" and "sfdisk DISK" (script on stdin)\n`);
  const dev = args[0]!;
  const disk = findDisk(state, dev);
  if (!disk) return fail(1, `sfdisk: cannot open ${dev}: No such file or directory\n`);
  if (!ctx.stdin) return { needStdin: true };
  const inUse = state.arrays.some((a) => a.members.some((m) => m.serial === disk.serial));
  if (inUse) {
    return fail(1, 'sfdisk: Use the --force flag to overrule all checks.\n',
      'Checking that no-one is using this disk right now ... FAILED\n\n'
      + 'This disk is currently in use - repartitioning is probably a bad idea.\n'
      + 'Umount all file systems, and swapoff all swap partitions on this disk.\n'
      + 'Use the --no-reread flag to suppress this check.\n\n');
  }
  const script = parseScript(ctx.stdin.toString('utf8'));
  if (typeof script === 'string') return fail(1, `sfdisk: ${script}\n`);
  if (!script.parts.length) return fail(1, 'sfdisk: no partitions defined\n');
  const sectors = disk.sizeBytes / SECTOR;
  const lastLba = sectors - 34;
  let out = 'Checking that no-one is using this disk right now ... OK\n\n';
  out += `Disk ${dev}: ${humanSize(disk.sizeBytes, 2, true)}, ${disk.sizeBytes} bytes, ${sectors} sectors\n`;
  out += `Disk model: ${disk.model.slice(0, 16)}\n`;
  out += 'Units: sectors of 1 * 512 = 512 bytes\n';
  out += 'Sector size (logical/physical): 512 bytes / 4096 bytes\n';
  out += 'I/O size (minimum/optimal): 4096 bytes / 4096 bytes\n\n';
  for (const _ of script.header.filter((h) => !h.startsWith('label-id:') && !h.startsWith('device:') && !h.startsWith('unit:') && !h.startsWith('sector-size:'))) out += '>>> Script header accepted.\n';
  const labelId = (script.labelId ?? randomUUID()).toUpperCase();
  out += `>>> Created a new GPT disklabel (GUID: ${labelId}).\n`;
  for (const p of script.parts) {
    const end = p.start + p.size - 1;
    if (p.start < 2048 || end > lastLba) {
      return fail(1, `${dev}${p.number}: Failed to add #${p.number} partition: Numerical result out of range\nLeaving.\n`, out);
    }
    const typeName = TYPE_NAMES[p.type] ?? p.type;
    out += `${dev}${p.number}: Created a new partition ${p.number} of type '${typeName}' and of size ${humanSize(p.size * SECTOR, 1, true)}.\n`;
  }
  out += `${dev}${script.parts[script.parts.length - 1]!.number + 1}: Done.\n\n`;
  out += `New situation:\nDisklabel type: gpt\nDisk identifier: ${labelId}\n\n`;
  const rows = script.parts.map((p) => [`${dev}${p.number}`, String(p.start), String(p.start + p.size - 1), String(p.size), humanSize(p.size * SECTOR, 1, false), TYPE_NAMES[p.type] ?? p.type]);
  const w = (i: number, min: number) => Math.max(min, ...rows.map((r) => r[i]!.length));
  const wDev = w(0, 6) + 1; const wStart = w(1, 5); const wEnd = w(2, 3); const wSec = w(3, 7); const wSize = w(4, 5);
  out += `${'Device'.padEnd(wDev)} ${'Start'.padStart(wStart)} ${'End'.padStart(wEnd)} ${'Sectors'.padStart(wSec)} ${'Size'.padStart(wSize)} Type\n`;
  for (const r of rows) out += `${r[0]!.padEnd(wDev)} ${r[1]!.padStart(wStart)} ${r[2]!.padStart(wEnd)} ${r[3]!.padStart(wSec)} ${r[4]!.padStart(wSize)} ${r[5]}\n`;
  out += '\nThe partition table has been altered.\nCalling ioctl() to re-read partition table.\nSyncing disks.\n';
  disk.label = { id: labelId, partitions: script.parts.map((p) => ({ ...p, fstype: null })) };
  return ok(out);
}

function cmdDd(state: XenDom0State, args: string[]): CommandResult {
  const opts: Record<string, string> = {};
  for (const a of args) {
    const m = /^([a-z]+)=(.*)$/.exec(a);
    if (!m) return fail(1, `dd: unrecognized operand '${a}'\n`);
    opts[m[1]!] = m[2]!;
  }
  if (opts.of) return fail(1, 'dd: the lab does not simulate writing with dd\n');
  const path = opts.if;
  if (!path) return fail(1, 'dd: the lab does not simulate reading standard input\n');
  const bs = Number(opts.bs ?? 512);
  const count = Number(opts.count ?? 1);
  if (!Number.isInteger(bs) || !Number.isInteger(count) || bs * count > 1 << 20) return fail(1, 'dd: the lab reads at most 1 MiB: give bs= and count=\n');
  const disk = findDisk(state, path);
  if (!disk && !findPartition(state, path)) return fail(1, `dd: failed to open '${path}': No such file or directory\n`);
  const data = Buffer.alloc(bs * count);
  if (disk && disk.bootCode === 'grub') {
    data.write('\xebc\x90', 0, 'latin1');
    data.write('GRUB ', Math.min(data.length - 5, 0x180), 'latin1');
    if (data.length > 0x190) data.write('Geom\0Hard Disk\0Read\0 Error', 0x185, 'latin1');
  }
  const stderr = opts.status === 'none' ? '' : `${count}+0 records in\n${count}+0 records out\n${data.length} bytes copied, 0.000123 s, ${(data.length / 123).toFixed(1)} MB/s\n`;
  return { stdout: data, stderr, exitCode: 0 };
}

function cmdGrubInstall(state: XenDom0State, args: string[]): CommandResult {
  const devs = args.filter((a) => !a.startsWith('-'));
  if (devs.length !== 1 || devs.length !== args.length) return fail(1, 'grub-install: the lab simulates only "grub-install /dev/sdX"\n');
  const disk = findDisk(state, devs[0]!);
  if (!disk) return fail(1, `grub-install: error: failed to get canonical path of \`${devs[0]}'.\n`);
  if (!disk.label || !disk.label.partitions.some((p) => p.type === BIOS_BOOT)) {
    return fail(1, 'Installing for i386-pc platform.\n'
      + 'grub-install: warning: this GPT partition label contains no BIOS Boot Partition; embedding won\'t be possible.\n'
      + 'grub-install: error: embedding is not possible, but this is required for cross-disk install.\n');
  }
  disk.bootCode = 'grub';
  return ok('', 'Installing for i386-pc platform.\nInstallation finished. No error reported.\n');
}

// ---------------------------------------------------------------- Xen guests (xl)

function stopDomain(d: XenDomain): void {
  d.state = 'stopped';
  d.id = null;
  delete d.startedAt;
  delete d.shutdownRequestedAt;
}

/** A domain by name or id, as xl accepts either; only domains that exist (running or shutting down). */
function findDomain(state: XenDom0State, ident: string): XenDomain | undefined {
  return (state.domains ?? []).find((d) => d.state !== 'stopped' && (d.name === ident || String(d.id) === ident));
}

const invalidDomain = (ident: string) => fail(1, `${ident} is an invalid domain identifier (rc=-6)\n`);

/** xl's list_domains: `%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8.1f`, Domain-0 first, then by id. */
function renderXlList(state: XenDom0State, now: number): string {
  const row = (name: string, id: number, mem: number, vcpus: number, flags: string, seconds: number) =>
    `${name.padEnd(40)} ${String(id).padStart(5)} ${String(mem).padStart(5)} ${String(vcpus).padStart(5)}     ${flags}  ${seconds.toFixed(1).padStart(8)}\n`;
  let out = 'Name                                        ID   Mem VCPUs\tState\tTime(s)\n';
  out += row('Domain-0', 0, 4096, 4, 'r-----', ((now - (state.bootedAt ?? now)) / 1000) * 0.05);
  const running = (state.domains ?? []).filter((d) => d.state !== 'stopped').sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
  for (const d of running) out += row(d.name, d.id ?? 0, d.memMiB, d.vcpus, '-b----', ((now - (d.startedAt ?? now)) / 1000) * 0.01);
  return out;
}

function cmdXl(state: XenDom0State, args: string[], now: number): CommandResult {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'list':
      if (rest.length) return fail(1, 'runbook-lab: the lab simulates only "xl list" without arguments\n');
      return ok(renderXlList(state, now));
    case 'shutdown': {
      const wait = rest[0] === '-w';
      const idents = wait ? rest.slice(1) : rest;
      if (idents.length !== 1 || idents[0]!.startsWith('-')) return fail(1, 'runbook-lab: the lab simulates "xl shutdown [-w] DOMAIN"\n');
      const d = findDomain(state, idents[0]!);
      if (!d) return invalidDomain(idents[0]!);
      if (d.state === 'running') { d.state = 'shutting-down'; d.shutdownRequestedAt = now; }
      if (!wait) return ok('', `Shutting down domain ${d.id}\n`);
      // -w blocks until the guest is gone: the page warns it has no time limit. The lab answers at once,
      // as if it had waited, but cannot wait for ever on a guest that never stops.
      if (d.hangsOnShutdown) return fail(1, `Shutting down domain ${d.id}\nWaiting for 1 domains\nrunbook-lab: ${d.name} never shuts down: xl shutdown -w would wait for ever\n`);
      const id = d.id;
      stopDomain(d);
      return ok('', `Shutting down domain ${id}\nWaiting for 1 domains\nDomain ${id} has been shut down, reason code 0\n`);
    }
    case 'destroy': {
      if (rest.length !== 1) return fail(1, 'runbook-lab: the lab simulates "xl destroy DOMAIN"\n');
      if (rest[0] === '0' || rest[0] === 'Domain-0') return fail(1, 'Cannot destroy privileged domain 0\n');
      const d = findDomain(state, rest[0]!);
      if (!d) return invalidDomain(rest[0]!);
      stopDomain(d);
      return ok();
    }
    case 'create': {
      if (rest.length !== 1 || rest[0]!.startsWith('-')) return fail(1, 'runbook-lab: the lab simulates "xl create CONFIG"\n');
      const path = rest[0]!;
      const d = (state.domains ?? []).find((x) => x.config === path);
      if (!d) return fail(1, `Failed to read config file: ${path}: No such file or directory\n`);
      const parsing = `Parsing config from ${path}\n`;
      if (d.state !== 'stopped') return fail(1, `${parsing}Domain ${d.name} already exists\n`);
      d.state = 'running';
      d.id = state.nextDomainId ?? 1;
      state.nextDomainId = d.id + 1;
      d.startedAt = now;
      return ok('', parsing);
    }
    default:
      return fail(1, `runbook-lab: the lab simulates only xl list, shutdown, destroy and create, not "xl ${sub ?? ''}"\n`);
  }
}

export const LSBLK_ARGS = ['--json', '--bytes', '--output', 'NAME,KNAME,PKNAME,TYPE,SIZE,SERIAL,MODEL,FSTYPE'];

export const xenDom0: HostSimulator<XenDom0State> = {
  kind: 'xen-dom0',
  settle,
  boot(state, now) {
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
    // No auto-start: after a reboot every guest waits for `xl create`. The first boot keeps the preset's
    // running guests (a dom0 found running them), created in the preset's order.
    state.nextDomainId = 1;
    for (const d of state.domains ?? []) {
      if (state.bootCount === 0 && d.state === 'running') { d.id = state.nextDomainId++; d.startedAt = now; } else stopDomain(d);
    }
    if (state.domains) state.bootedAt = now;
    state.bootCount += 1;
  },
  exec(state, argv, ctx) {
    const [cmd0, ...args] = argv;
    const cmd = cmd0!.replace(/^\/(usr\/)?s?bin\//, '');
    switch (cmd) {
      case 'cat':
        if (args.length === 1 && args[0] === '/proc/mdstat') return ok(renderMdstat(state, ctx.now));
        if (args.length === 1 && args[0] === '/proc/sys/kernel/random/boot_id') return ok(`${kernelBootId(state)}\n`);
        return fail(1, `cat: ${args.join(' ')}: the lab only simulates /proc/mdstat\n`);
      case 'mdadm':
        return cmdMdadm(state, args, ctx.now);
      case 'lsblk':
        if (args.join(' ') === LSBLK_ARGS.join(' ')) return ok(renderLsblk(state));
        return fail(1, `lsblk: the lab only simulates "lsblk ${LSBLK_ARGS.join(' ')}"\n`);
      case 'sfdisk':
        return cmdSfdisk(state, args, ctx);
      case 'dd':
        return cmdDd(state, args);
      case 'grub-install':
        return cmdGrubInstall(state, args);
      case 'xl':
        return cmdXl(state, args, ctx.now);
      case 'hostname':
        return ok(`${state.name}\n`);
      case 'reboot':
        return { ...ok(), after: 'reboot' };
      case 'poweroff':
        return { ...ok(), after: 'poweroff' };
      default:
        return fail(127, `bash: ${cmd0}: command not found\n`);
    }
  },
};

/** Hot or cold swap of the disk in `slot`. */
export function swapDisk(state: XenDom0State, slot: number, now: number, opts: { sizeBytes?: number; serial?: string; model?: string } = {}): Disk {
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

export function failDisk(state: XenDom0State, slot: number, now: number): void {
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
