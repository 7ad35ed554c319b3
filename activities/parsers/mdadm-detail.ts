/**
 * `mdadm --detail /dev/mdX`: the key/value block, then the member table
 *
 *     Number   Major   Minor   RaidDevice State
 *        -       0        0        0      removed
 *        1       8       19        1      active sync   /dev/sdb3
 *        0       8        3        -      faulty   /dev/sda3
 */
import { ParseError } from './mdstat.js';

export interface MdadmMember {
  /** The member's number in the superblock; null for a `-` (an empty, removed slot). */
  number: number | null;
  /** The slot it fills; null for `-` (faulty or spare, not in a slot). */
  raidDevice: number | null;
  /** e.g. ['active', 'sync'], ['faulty'], ['spare', 'rebuilding'], ['removed']. */
  state: string[];
  /** e.g. '/dev/sdb2'; absent for a removed slot. */
  device?: string;
}

export interface MdadmDetail {
  /** '/dev/md1' */
  device: string;
  /** 'md1' */
  array: string;
  /** The superblock name, e.g. 'dom0:1'. */
  name?: string;
  level: string;
  /** e.g. ['clean', 'degraded', 'recovering']. */
  state: string[];
  uuid?: string;
  raidDevices: number;
  totalDevices?: number;
  activeDevices: number;
  workingDevices?: number;
  failedDevices: number;
  spareDevices: number;
  /** From `Rebuild Status : 22% complete`. */
  rebuildPercent?: number;
  /** From `Resync Status` / `Reshape Status` / `Check Status`. */
  resyncPercent?: number;
  members: MdadmMember[];
  /** Every `Key : value` line, as printed. */
  fields: Record<string, string>;
}

export function parseMdadmDetail(text: string): MdadmDetail {
  const lines = text.split('\n');
  const first = lines.find((l) => l.trim() !== '')?.trim() ?? '';
  const deviceMatch = /^(\/dev\/\S+):$/.exec(first);
  if (!deviceMatch?.[1]) throw new ParseError(`mdadm --detail: expected "/dev/mdX:" on the first line, got "${first}"`);
  const device = deviceMatch[1];

  const fields: Record<string, string> = {};
  const members: MdadmMember[] = [];
  let inTable = false;
  for (const line of lines.slice(1)) {
    // Without a State column for an inactive array or a container (Detail.c).
    if (/^\s*Number\s+Major\s+Minor\s+RaidDevice(\s+State)?\s*$/.test(line)) {
      inTable = true;
      continue;
    }
    if (inTable) {
      const words = line.trim().split(/\s+/).filter(Boolean);
      if (words.length < 5) continue;
      const [number = '', , , raidDevice = '', ...rest] = words;
      const member: MdadmMember = {
        number: number === '-' ? null : Number(number),
        raidDevice: raidDevice === '-' ? null : Number(raidDevice),
        state: rest.filter((w) => !w.startsWith('/')),
      };
      const dev = rest.find((w) => w.startsWith('/'));
      if (dev) member.device = dev;
      if (Number.isNaN(member.number) || Number.isNaN(member.raidDevice)) {
        throw new ParseError(`mdadm --detail: cannot read member line "${line.trim()}"`);
      }
      members.push(member);
      continue;
    }
    const kv = /^\s*([A-Za-z][A-Za-z ]*?)\s+:\s?(.*)$/.exec(line);
    if (kv?.[1]) fields[kv[1]] = (kv[2] ?? '').trim();
  }

  const need = (key: string): string => {
    const value = fields[key];
    if (value === undefined) throw new ParseError(`mdadm --detail ${device}: missing "${key}"`);
    return value;
  };
  const count = (key: string): number => {
    const value = Number(need(key));
    if (!Number.isInteger(value)) throw new ParseError(`mdadm --detail ${device}: "${key}" is not a number: ${fields[key]}`);
    return value;
  };
  const percent = (key: string): number | undefined => {
    const m = /^(\d+(?:\.\d+)?)%/.exec(fields[key] ?? '');
    return m ? Number(m[1]) : undefined;
  };

  const detail: MdadmDetail = {
    device,
    array: device.replace(/^\/dev\/(md\/)?/, ''),
    level: need('Raid Level'),
    state: need('State').split(',').map((s) => s.trim()).filter(Boolean),
    // Detail.c prints no Raid Devices for an array without any (inactive): 0.
    raidDevices: fields['Raid Devices'] === undefined && /^inactive\b/.test(fields['State'] ?? '') ? 0 : count('Raid Devices'),
    activeDevices: count('Active Devices'),
    failedDevices: count('Failed Devices'),
    spareDevices: count('Spare Devices'),
    members,
    fields,
  };
  const name = fields['Name']?.split(/\s+/)[0];
  if (name) detail.name = name;
  if (fields['UUID']) detail.uuid = fields['UUID'];
  if (fields['Total Devices'] !== undefined) detail.totalDevices = count('Total Devices');
  if (fields['Working Devices'] !== undefined) detail.workingDevices = count('Working Devices');
  const rebuild = percent('Rebuild Status');
  if (rebuild !== undefined) detail.rebuildPercent = rebuild;
  const resync = percent('Resync Status') ?? percent('Reshape Status') ?? percent('Check Status');
  if (resync !== undefined) detail.resyncPercent = resync;
  return detail;
}
