/**
 * Proxmox VE outputs: `pvecm status` / `pvecm nodes` (pvecm.ts, re-exported), `pvesh get … --output-format json` (cluster resources,
 * storage list), `qm config` / `pct config`, `pvesm status`, and `df -B1 --output=avail`.
 */
import { z } from 'zod';
import { describeIssues } from '../../common/inventory.js';
import { ParseError } from './mdstat.js';

// ---------------------------------------------------------------- pvecm (in pvecm.ts)

export { parseCorosyncNodelist, parsePvecmNodes, parsePvecmStatus, type PvecmMember, type PvecmQdevice, type PvecmStatus } from './pvecm.js';

// ---------------------------------------------------------------- pvesh JSON

export function json(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ParseError(`${what}: output is not JSON: ${(error as Error).message}`);
  }
}

/** pvesh prints numbers, older versions sometimes numeric strings. */
export const Num = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?$/).transform(Number)]);
export const Flag = z.union([z.literal(0), z.literal(1), z.literal('0'), z.literal('1'), z.boolean()]).transform((v) => v === 1 || v === '1' || v === true);

const Resource = z.object({ id: z.string(), type: z.string() });
const GuestResource = z.object({
  type: z.enum(['qemu', 'lxc']),
  vmid: Num,
  name: z.string().optional(),
  node: z.string(),
  status: z.string().default('unknown'),
  maxmem: Num.default(0),
  maxcpu: Num.default(0),
  mem: Num.optional(),
  template: Flag.default(false),
});
const NodeResource = z.object({
  node: z.string(),
  status: z.string().default('unknown'),
  maxmem: Num.default(0),
  maxcpu: Num.default(0),
  mem: Num.optional(),
  cpu: Num.optional(),
  uptime: Num.optional(),
});
const StorageResource = z.object({
  storage: z.string(),
  node: z.string(),
  status: z.string().default('unknown'),
  shared: Flag.default(false),
  plugintype: z.string().optional(),
  content: z.string().optional(),
  maxdisk: Num.optional(),
  disk: Num.optional(),
});

export interface ClusterGuest {
  vmid: number;
  type: 'qemu' | 'lxc';
  /** The VM name or the container's hostname ('' when PVE gives none). */
  name: string;
  node: string;
  /** running, stopped, or unknown (its node is offline). */
  status: string;
  maxmem: number;
  maxcpu: number;
  mem?: number;
  template: boolean;
}

export interface ClusterNode {
  node: string;
  /** online or offline. */
  status: string;
  /** 0 when PVE does not say (an offline node may not). */
  maxmem: number;
  maxcpu: number;
  mem?: number;
  cpu?: number;
  uptime?: number;
}

export interface ClusterStorage {
  storage: string;
  node: string;
  /** available, or unknown (node offline, storage not active). */
  status: string;
  shared: boolean;
  plugintype?: string;
  content?: string[];
  totalBytes?: number;
  usedBytes?: number;
}

export interface ClusterResources {
  guests: ClusterGuest[];
  nodes: ClusterNode[];
  storages: ClusterStorage[];
}

function entry<T extends z.ZodType>(schema: T, raw: unknown, i: number): z.output<T> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ParseError(`cluster resources: entry ${i} is not as expected:\n${describeIssues(parsed.error, `[${i}]`)}`);
  return parsed.data;
}

/** `pvesh get /cluster/resources --output-format json`; other resource types (sdn, pool) are skipped. */
export function parseClusterResources(text: string): ClusterResources {
  const raw = json(text, 'cluster resources');
  if (!Array.isArray(raw)) throw new ParseError('cluster resources: expected a JSON array');
  const out: ClusterResources = { guests: [], nodes: [], storages: [] };
  raw.forEach((item, i) => {
    const base = entry(Resource, item, i);
    if (base.type === 'qemu' || base.type === 'lxc') {
      const g = entry(GuestResource, item, i);
      const guest: ClusterGuest = { vmid: g.vmid, type: g.type, name: g.name ?? '', node: g.node, status: g.status, maxmem: g.maxmem, maxcpu: g.maxcpu, template: g.template };
      if (g.mem !== undefined) guest.mem = g.mem;
      out.guests.push(guest);
    } else if (base.type === 'node') {
      const n = entry(NodeResource, item, i);
      const node: ClusterNode = { node: n.node, status: n.status, maxmem: n.maxmem, maxcpu: n.maxcpu };
      if (n.mem !== undefined) node.mem = n.mem;
      if (n.cpu !== undefined) node.cpu = n.cpu;
      if (n.uptime !== undefined) node.uptime = n.uptime;
      out.nodes.push(node);
    } else if (base.type === 'storage') {
      const s = entry(StorageResource, item, i);
      const storage: ClusterStorage = { storage: s.storage, node: s.node, status: s.status, shared: s.shared };
      if (s.plugintype) storage.plugintype = s.plugintype;
      if (s.content) storage.content = s.content.split(',').filter(Boolean);
      if (s.maxdisk !== undefined) storage.totalBytes = s.maxdisk;
      if (s.disk !== undefined) storage.usedBytes = s.disk;
      out.storages.push(storage);
    }
  });
  return out;
}

export interface StorageDefinition {
  storage: string;
  type: string;
  shared: boolean;
  vgname?: string;
  thinpool?: string;
  content: string[];
  /** Restricted to these nodes; absent = every node. */
  nodes?: string[];
}

const StorageCfg = z.array(z.object({
  storage: z.string(),
  type: z.string(),
  shared: Flag.default(false),
  vgname: z.string().optional(),
  thinpool: z.string().optional(),
  content: z.string().default(''),
  nodes: z.string().optional(),
}));

/** `pvesh get /storage --output-format json`: /etc/pve/storage.cfg. */
export function parseStorageList(text: string): StorageDefinition[] {
  const parsed = StorageCfg.safeParse(json(text, 'storage list'));
  if (!parsed.success) throw new ParseError(`storage list is not as expected:\n${describeIssues(parsed.error, 'storage')}`);
  return parsed.data.map((s) => {
    const def: StorageDefinition = { storage: s.storage, type: s.type, shared: s.shared, content: s.content.split(',').filter(Boolean) };
    if (s.vgname) def.vgname = s.vgname;
    if (s.thinpool) def.thinpool = s.thinpool;
    if (s.nodes) def.nodes = s.nodes.split(',').filter(Boolean);
    return def;
  });
}

// ---------------------------------------------------------------- qm / pct config

export interface GuestDisk {
  /** scsi0, virtio0, ide2, rootfs, mp0, unused0... */
  key: string;
  storage: string;
  volume: string;
  /** As written: 20G. */
  size?: string;
  sizeBytes?: number;
  /** 'cdrom' for an ISO: it ties the VM to its storage too. */
  media?: string;
}

export interface GuestConfig {
  /** Every `key: value` line of the current configuration (snapshots and pending changes left out). */
  fields: Record<string, string>;
  /** `name` (VM) or `hostname` (container). */
  name?: string;
  memoryMiB?: number;
  cores?: number;
  sockets?: number;
  onboot: boolean;
  disks: GuestDisk[];
  /** The storages of its volumes, each once: what decides whether it can move live. */
  storages: string[];
}

const DISK_KEY = /^(ide|sata|scsi|virtio|efidisk|tpmstate|unused|mp)\d+$|^rootfs$/;
const UNITS: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** PVE sizes: 20G, 512M, 1T (a bare number is bytes). */
export function pveSizeBytes(size: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)$/.exec(size);
  if (!m?.[1]) return undefined;
  return Math.round(Number(m[1]) * (m[2] ? UNITS[m[2]]! : 1));
}

/** `qm config VMID` / `pct config CTID`. */
export function parseGuestConfig(text: string): GuestConfig {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('[')) break; // [snapshot] or [PENDING] sections follow the current config
    if (!line.trim() || line.startsWith('#')) continue;
    // pct config prints a container's raw LXC keys last, as `lxc.init_cmd: …` (src/PVE/CLI/pct.pm).
    const kv = /^([a-z][a-z0-9_-]*|lxc(?:\.[a-z0-9_-]+)+):\s*(.*)$/.exec(line);
    if (!kv?.[1]) throw new ParseError(`guest config: cannot read line "${line}"`);
    fields[kv[1]] = kv[2] ?? '';
  }
  const disks: GuestDisk[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (!DISK_KEY.test(key)) continue;
    const [volid = '', ...opts] = value.split(',');
    // `none` (empty drive), `cdrom` (host drive) and bind mounts (/path) name no storage.
    const m = /^([A-Za-z][A-Za-z0-9_.-]*):(.+)$/.exec(volid);
    if (!m?.[1] || !m[2]) continue;
    const options = Object.fromEntries(opts.map((o) => { const i = o.indexOf('='); return i < 0 ? [o, ''] : [o.slice(0, i), o.slice(i + 1)]; }));
    const disk: GuestDisk = { key, storage: m[1], volume: m[2] };
    if (options.size) {
      disk.size = options.size;
      const bytes = pveSizeBytes(options.size);
      if (bytes !== undefined) disk.sizeBytes = bytes;
    }
    if (options.media) disk.media = options.media;
    disks.push(disk);
  }
  const int = (key: string) => (fields[key] !== undefined && /^\d+$/.test(fields[key]!) ? Number(fields[key]) : undefined);
  const config: GuestConfig = { fields, onboot: fields.onboot === '1', disks, storages: [...new Set(disks.map((d) => d.storage))] };
  const name = fields.name ?? fields.hostname;
  if (name) config.name = name;
  const memory = int('memory');
  if (memory !== undefined) config.memoryMiB = memory;
  const cores = int('cores');
  if (cores !== undefined) config.cores = cores;
  const sockets = int('sockets');
  if (sockets !== undefined) config.sockets = sockets;
  return config;
}

// ---------------------------------------------------------------- pvesm status, df

export interface StorageStatus {
  name: string;
  type: string;
  /** active, inactive or disabled. */
  status: string;
  totalBytes: number;
  usedBytes: number;
  availableBytes: number;
  /** null for a disabled storage (N/A). */
  percent: number | null;
}

/** `pvesm status`: sizes are printed in KiB (`%15d` of bytes / 1024), the percentage as `% 7.2f%%` or `N/A` when disabled. */
export function parsePvesmStatus(text: string): StorageStatus[] {
  const lines = text.split('\n');
  // Since PVE 9 the headings name their unit, "Total (KiB)" (pve-storage's pvesm.pm); any other unit is refused.
  const header = lines.findIndex((l) => /^Name\s+Type\s+Status\s+Total(?: \(KiB\))?\s+Used(?: \(KiB\))?\s+Available(?: \(KiB\))?\s+%\s*$/.test(l));
  if (header < 0) throw new ParseError('pvesm status: no "Name Type Status Total Used Available %" header');
  return lines.slice(header + 1).filter((l) => l.trim()).map((line) => {
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(?:([\d.]+)%|N\/A)\s*$/.exec(line);
    if (!m?.[1] || !m[2] || !m[3]) throw new ParseError(`pvesm status: cannot read line "${line.trim()}"`);
    return {
      name: m[1], type: m[2], status: m[3],
      totalBytes: Number(m[4]) * 1024, usedBytes: Number(m[5]) * 1024, availableBytes: Number(m[6]) * 1024,
      percent: m[7] === undefined ? null : Number(m[7]),
    };
  });
}

/**
 * `df -B1 --output=avail PATH`: the free bytes (the page wants about 70 MB free in /boot before an upgrade).
 * The heading is translated with the host's locale ("Avail", "Dispo", "Verf."): any one word that is not a number.
 */
export function parseDfAvail(text: string): number {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length !== 2 || !/^[^\s\d]\S*$/.test(lines[0]!) || !/^\d+$/.test(lines[1]!)) {
    throw new ParseError(`df: expected a heading and one byte count (e.g. "Avail" then 180000000), got "${text.trim()}"`);
  }
  return Number(lines[1]);
}

/** Free bytes on /boot, from `df -B1 --output=avail /boot`. */
export const parseBootFree = parseDfAvail;
