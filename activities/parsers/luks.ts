/**
 * What a hypervisor says about its LUKS volumes: `blkid` lines, /etc/crypttab, and `dmsetup ls --target crypt`
 * (the open mappings). The multipath paths of one LUN show the same UUID: group by UUID, not by path.
 */
import { ParseError } from './mdstat.js';

export interface BlkidEntry {
  path: string;
  uuid?: string;
  type?: string;
  partuuid?: string;
  label?: string;
  /** Every KEY="value" of the line. */
  fields: Record<string, string>;
}

const PAIRS = /^(?:[A-Z_]+="(?:[^"\\]|\\.)*"\s*)*$/;

/** `blkid` / `blkid -t TYPE=crypto_LUKS`: `/dev/sdd: UUID="…" TYPE="crypto_LUKS" PARTUUID="…"`. */
export function parseBlkid(text: string): BlkidEntry[] {
  return text.split('\n').filter((l) => l.trim()).map((line) => {
    // The name ends at the first colon followed by a space (a by-path name has colons of its own); the rest is only
    // KEY="value" pairs, with \" and \\ escaped (misc-utils/blkid.c).
    const m = /^(\S+?):(?=\s|$)\s*(.*)$/.exec(line.trim());
    if (!m?.[1] || !PAIRS.test(m[2] ?? '')) throw new ParseError(`blkid: cannot read line "${line.trim()}"`);
    const fields: Record<string, string> = {};
    for (const f of (m[2] ?? '').matchAll(/([A-Z_]+)="((?:[^"\\]|\\.)*)"/g)) fields[f[1]!] = f[2]!.replace(/\\(.)/g, '$1');
    const entry: BlkidEntry = { path: m[1], fields };
    if (fields.UUID) entry.uuid = fields.UUID;
    if (fields.TYPE) entry.type = fields.TYPE;
    if (fields.PARTUUID) entry.partuuid = fields.PARTUUID;
    if (fields.LABEL) entry.label = fields.LABEL;
    return entry;
  });
}

export interface CrypttabEntry {
  /** The dm-crypt name: sda5_crypt, vg_fma_luks. */
  name: string;
  /** As written: UUID=…, /dev/disk/by-uuid/…, or a path. */
  source: string;
  /** The UUID the source names; '' when the source is a plain path (match on `source` then). */
  uuid: string;
  /** `none` when the passphrase is asked for. */
  keyFile: string;
  /** luks, discard, initramfs, noauto... */
  options: string[];
}

/** /etc/crypttab: `<target name> <source device> <key file> <options>`, comments and blank lines skipped. */
export function parseCrypttab(text: string): CrypttabEntry[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((line) => {
    const [name, source, password = 'none', options = ''] = line.split(/\s+/);
    if (!name || !source) throw new ParseError(`crypttab: cannot read line "${line}"`);
    const uuid = /^(?:UUID=|\/dev\/disk\/by-uuid\/)(.+)$/.exec(source)?.[1] ?? '';
    // crypttab(5): an absent password field, `none` or `-` all mean "ask for it".
    const keyFile = password === '-' ? 'none' : password;
    return { name, source, uuid, keyFile, options: options.split(',').filter(Boolean) };
  });
}

/**
 * `dmsetup ls --target crypt`: the names of the open dm-crypt mappings ("No devices found" = none). Each line is
 * `name\t(major:minor)`, `(major, minor)` in old versions, or `(dm-N)` / `(name)` with `-o blkdevname|devname`.
 */
export function parseDmsetupCrypt(text: string): string[] {
  if (/^No devices found\s*$/m.test(text)) return [];
  return text.split('\n').filter((l) => l.trim()).map((line) => {
    const m = /^(\S+)\s+\((?:\d+[:, ]\s*\d+|[\w.-]+)\)\s*$/.exec(line.trim());
    if (!m?.[1]) throw new ParseError(`dmsetup ls: cannot read line "${line.trim()}"`);
    return m[1];
  });
}

/** `lvs --noheadings -o vg_name,lv_attr`: each logical volume's group and whether it is active (attr's 5th letter). */
export function parseLvsActive(text: string): { vg: string; active: boolean }[] {
  return text.split('\n').filter((l) => l.trim()).map((line) => {
    const m = /^\s*(\S+)\s+([-a-zA-Z]{10})\s*$/.exec(line);
    if (!m) throw new ParseError(`lvs: cannot read line "${line.trim()}"`);
    return { vg: m[1]!, active: m[2]![4] === 'a' };
  });
}
