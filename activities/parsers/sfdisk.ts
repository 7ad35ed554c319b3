/**
 * `sfdisk --dump /dev/sdX` and the script that clones its layout onto another disk.
 *
 * The page does `sfdisk -d /dev/sdb | sfdisk /dev/sda`, which copies the label-id, every partition GUID and
 * the last usable LBA: two disks with the same GUIDs, and a GPT that ignores the end of a bigger disk.
 * renderSfdiskScript keeps only the layout, so the clone gets fresh GUIDs and sfdisk places the backup GPT
 * at the real end of the new disk.
 */
import { ParseError } from './mdstat.js';

export interface SfdiskPartition {
  /** '/dev/sdb1' */
  device: string;
  number: number;
  start: number;
  size: number;
  /** GPT type GUID or MBR type code, as printed. */
  type: string;
  uuid?: string;
  name?: string;
  attrs?: string;
  bootable?: boolean;
}

export interface SfdiskDump {
  label: string;
  labelId?: string;
  device?: string;
  unit: string;
  firstLba?: number;
  lastLba?: number;
  sectorSize?: number;
  /** Header lines not listed above (e.g. `table-length`, `grain`), kept as printed. */
  extra: Record<string, string>;
  partitions: SfdiskPartition[];
}

/** True when sfdisk's stderr says the disk has no partition table (a blank disk). */
export function isNoPartitionTable(stderr: string): boolean {
  return /does not contain a recognized partition table/.test(stderr);
}

/** The partition number at the end of a device name: sdb3 → 3, nvme0n1p2 → 2. */
function partitionNumber(device: string): number {
  const m = /(\d+)$/.exec(device);
  if (!m) throw new ParseError(`sfdisk: no partition number in "${device}"`);
  return Number(m[1]);
}

/** Splits `start=  2048, size=4096, name="a, b", bootable` into fields, honouring quotes. */
function fieldsOf(text: string, line: string): Map<string, string | true> {
  const fields = new Map<string, string | true>();
  const re = /\s*([A-Za-z-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,]*?))?\s*(?:,|$)/gy;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m || m[0] === '') throw new ParseError(`sfdisk: cannot read partition line "${line}"`);
    pos = re.lastIndex;
    const value = m[2];
    fields.set(m[1] ?? '', value === undefined ? true : value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value);
  }
  return fields;
}

export function parseSfdiskDump(text: string): SfdiskDump {
  const header = new Map<string, string>();
  const partitions: SfdiskPartition[] = [];
  let oldFormat = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue; // sfdisk before 2.26 began with "# partition table of /dev/sdX"
    const part = /^(\S+)\s*:\s*(.*)$/.exec(line);
    if (part?.[1]?.startsWith('/')) {
      const device = part[1];
      const fields = fieldsOf(part[2] ?? '', line);
      const num = (key: string): number => {
        const value = fields.get(key);
        if (typeof value !== 'string' || !/^\d+$/.test(value)) throw new ParseError(`sfdisk: ${device} has no numeric ${key}`);
        return Number(value);
      };
      const type = fields.get('type') ?? fields.get('Id');
      if (typeof type !== 'string') throw new ParseError(`sfdisk: ${device} has no type`);
      if (fields.has('Id')) oldFormat = true;
      const p: SfdiskPartition = { device, number: partitionNumber(device), start: num('start'), size: num('size'), type };
      const uuid = fields.get('uuid');
      if (typeof uuid === 'string') p.uuid = uuid;
      const name = fields.get('name');
      if (typeof name === 'string') p.name = name;
      const attrs = fields.get('attrs');
      if (typeof attrs === 'string') p.attrs = attrs;
      if (fields.get('bootable') === true) p.bootable = true;
      partitions.push(p);
      continue;
    }
    const kv = /^([a-z-]+):\s*(.*)$/.exec(line);
    if (kv?.[1]) header.set(kv[1], kv[2] ?? '');
    else throw new ParseError(`sfdisk: unexpected line "${line}"`);
  }
  // The old sfdisk knew only MBR and wrote no label line; it listed the four primary slots, empty ones as size 0, Id 0.
  const label = header.get('label') ?? (oldFormat ? 'dos' : undefined);
  if (!label) throw new ParseError('sfdisk: no "label:" line (is the disk blank?)');
  if (oldFormat) partitions.splice(0, partitions.length, ...partitions.filter((p) => !(p.size === 0 && /^0+$/.test(p.type))));
  const int = (key: string): number | undefined => {
    const value = header.get(key);
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value)) throw new ParseError(`sfdisk: "${key}" is not a number: ${value}`);
    return Number(value);
  };
  const dump: SfdiskDump = { label, unit: header.get('unit') ?? 'sectors', extra: {}, partitions };
  const labelId = header.get('label-id');
  if (labelId) dump.labelId = labelId;
  const device = header.get('device');
  if (device) dump.device = device;
  const firstLba = int('first-lba');
  if (firstLba !== undefined) dump.firstLba = firstLba;
  const lastLba = int('last-lba');
  if (lastLba !== undefined) dump.lastLba = lastLba;
  const sectorSize = int('sector-size');
  if (sectorSize !== undefined) dump.sectorSize = sectorSize;
  for (const [key, value] of header) {
    if (!['label', 'label-id', 'device', 'unit', 'first-lba', 'last-lba', 'sector-size'].includes(key)) dump.extra[key] = value;
  }
  return dump;
}

/** The device name of partition `n` of `disk`: /dev/sdc + 2 → /dev/sdc2, /dev/nvme0n1 + 2 → /dev/nvme0n1p2. */
export function partitionDevice(disk: string, n: number): string {
  return /\d$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}

const SAFE_VALUE = /^[A-Za-z0-9._:-]+$/;

/**
 * A script for `sfdisk /dev/new` (given on stdin) reproducing `dump`'s layout without its identity:
 * no label-id, device, last-lba, or partition uuid.
 */
export function renderSfdiskScript(dump: SfdiskDump, opts: { forDisk: string }): string {
  if (!/^\/dev\/[A-Za-z0-9/_-]+$/.test(opts.forDisk)) throw new ParseError(`sfdisk: not a disk device path: "${opts.forDisk}"`);
  if (dump.device && dump.device === opts.forDisk) throw new ParseError(`sfdisk: refusing to clone ${dump.device} onto itself`);
  const safe = (key: string, value: string | number): string => {
    const text = String(value);
    if (!SAFE_VALUE.test(text)) throw new ParseError(`sfdisk: unexpected characters in ${key} "${text}"`);
    return text;
  };
  const lines = [`label: ${safe('label', dump.label)}`, `unit: ${safe('unit', dump.unit)}`];
  if (dump.firstLba !== undefined) lines.push(`first-lba: ${dump.firstLba}`);
  if (dump.sectorSize !== undefined) lines.push(`sector-size: ${dump.sectorSize}`);
  lines.push('');
  for (const p of [...dump.partitions].sort((a, b) => a.number - b.number)) {
    const fields = [`start=${p.start}`, `size=${p.size}`, `type=${safe('type', p.type)}`];
    if (p.name !== undefined) {
      if (/["\\\n\r]/.test(p.name)) throw new ParseError(`sfdisk: unexpected characters in partition name "${p.name}"`);
      fields.push(`name="${p.name}"`);
    }
    if (p.attrs !== undefined) {
      if (/["\\\n\r]/.test(p.attrs)) throw new ParseError(`sfdisk: unexpected characters in attrs "${p.attrs}"`);
      fields.push(`attrs="${p.attrs}"`);
    }
    if (p.bootable) fields.push('bootable');
    lines.push(`${partitionDevice(opts.forDisk, p.number)} : ${fields.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Same label type and the same partitions (number, start, size, type); identities (GUIDs) are ignored. */
export function sameLayout(a: SfdiskDump, b: SfdiskDump): boolean {
  if (a.label !== b.label || a.partitions.length !== b.partitions.length) return false;
  const key = (p: SfdiskPartition) => `${p.number}:${p.start}:${p.size}:${p.type.toUpperCase()}`;
  const left = a.partitions.map(key).sort();
  const right = b.partitions.map(key).sort();
  return left.every((k, i) => k === right[i]);
}
