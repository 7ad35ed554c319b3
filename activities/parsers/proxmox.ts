/**
 * Proxmox VE outputs: `pvecm status` / `pvecm nodes`, `pvesh get … --output-format json` (cluster resources,
 * storage list), `qm config` / `pct config`, `pvesm status`, and `df -B1 --output=avail`.
 */
import { z } from 'zod';
import { describeIssues } from '../../common/inventory.js';
import { ParseError } from './mdstat.js';

// ---------------------------------------------------------------- pvecm

export interface PvecmMember {
  nodeId: number;
  votes: number;
  /** The ring address (`pvecm status`) or the node name (`pvecm nodes`); `Qdevice` for the quorum device's row. */
  name: string;
  local: boolean;
  /** The quorum device's row (node id 0, after the nodes): not a node. */
  qdevice?: true;
  /** A node's Qdevice column, when there is a quorum device: ['A', 'V', 'NMW'], ['NA', 'NV', 'NMW'], ['NR'] (not registered). */
  qdeviceFlags?: string[];
}

export interface PvecmQdevice {
  name: string;
  /** The votes it gives (printed as `(votes N)` when it casts none for this node). */
  votes: number;
  /** Whether it casts its vote for this node's partition. */
  castingVote: boolean;
}

export interface PvecmStatus {
  /** From "Quorate: Yes|No": `pvecm status` may exit 1 while quorate (ResEl page), so this is what counts. */
  quorate: boolean;
  /** Members seen right now ("Nodes:"): nodes only, never the quorum device. */
  nodes?: number;
  nodeId?: number;
  expectedVotes: number;
  highestExpected?: number;
  totalVotes: number;
  /** Votes needed for quorum. */
  quorum: number;
  /** e.g. ['Quorate'], ['Quorate', 'Qdevice'], [] when not quorate. */
  flags: string[];
  /** The membership table, nodes then the quorum device's row (marked `qdevice`). */
  members: PvecmMember[];
  /** The quorum device, when the cluster has one. */
  qdevice?: PvecmQdevice;
}

const MEMBER_HEADER = /^\s*Nodeid\s+Votes\s+(Qdevice\s+)?Name\s*$/;
/** VOTEQUORUM_QDEVICE_NODEID: corosync gives no node the id 0. */
const QDEVICE_NODEID = 0;

/**
 * The "Membership information" table of corosync-quorumtool (tools/corosync-quorumtool.c): node id (decimal,
 * or hex with -H), votes, the Qdevice column only when a quorum device is registered, the name, an optional
 * ` [extra info]` and ` (local)`. The quorum device's own row comes last: id 0, no flags, `(votes N)` when it
 * casts no vote for this node.
 */
function members(lines: string[], what: string): PvecmMember[] {
  const start = lines.findIndex((l) => MEMBER_HEADER.test(l));
  if (start < 0) return [];
  const withQdevice = !!MEMBER_HEADER.exec(lines[start]!)?.[1];
  // The Qdevice column exists only when the header says so: otherwise an upper-case name is a name.
  const row = new RegExp(String.raw`^\s*(0x[0-9a-fA-F]+|\d+)\s+(\d+)\s+${withQdevice ? String.raw`(?:(N?A,N?V,N?MW|NR)\s+)?` : '()'}(\S+)(?:\s+\[[^\]]*\])?(\s+\(local\))?(?:\s+\(votes (\d+)\))?\s*$`);
  const out: PvecmMember[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.trim()) break;
    const m = row.exec(line);
    const id = m?.[1];
    if (!m || !id || !m[4]) throw new ParseError(`${what}: cannot read membership line "${line.trim()}"`);
    const nodeId = id.startsWith('0x') ? parseInt(id, 16) : Number(id);
    const member: PvecmMember = { nodeId, votes: Number(m[2]), name: m[4], local: !!m[5] };
    if (nodeId === QDEVICE_NODEID) {
      member.qdevice = true;
      if (m[6] !== undefined) member.votes = Number(m[6]);
    } else {
      if (m[6] !== undefined) throw new ParseError(`${what}: "(votes N)" on a node's row: "${line.trim()}"`);
      if (m[3]) member.qdeviceFlags = m[3].split(',');
    }
    out.push(member);
  }
  return out;
}

function qdeviceOf(lines: string[], all: PvecmMember[]): PvecmQdevice | undefined {
  const row = all.find((m) => m.qdevice);
  if (!row) return undefined;
  const line = lines.find((l) => /^\s*(0x0+|0)\s/.test(l)) ?? '';
  return { name: row.name, votes: row.votes, castingVote: !/\(votes \d+\)\s*$/.test(line) };
}

export function parsePvecmStatus(text: string): PvecmStatus {
  const lines = text.split('\n');
  const fields: Record<string, string> = {};
  for (const line of lines) {
    const kv = /^([A-Za-z][A-Za-z ]*?):\s*(.*?)\s*$/.exec(line);
    if (kv?.[1]) fields[kv[1]] ??= kv[2] ?? '';
  }
  let quorate = fields['Quorate'];
  // An abridged output (pve-docs' QDevice example) may start at "Votequorum information": its Flags say Quorate
  // exactly when the node is (the same votequorum state); a full output always has the Quorate line.
  if (quorate === undefined && fields['Flags'] !== undefined && fields['Expected votes'] !== undefined) {
    quorate = fields['Flags'].split(/\s+/).includes('Quorate') ? 'Yes' : 'No';
  }
  if (quorate !== 'Yes' && quorate !== 'No') {
    throw new ParseError(`pvecm status: no "Quorate: Yes|No" line${text.trim() ? '' : ' (empty output: is this node in a cluster?)'}`);
  }
  const int = (key: string, required: boolean): number | undefined => {
    const raw = fields[key];
    if (raw === undefined) {
      if (required) throw new ParseError(`pvecm status: missing "${key}"`);
      return undefined;
    }
    const m = /^(0x[0-9a-fA-F]+|\d+)\b/.exec(raw);
    if (!m?.[1]) throw new ParseError(`pvecm status: "${key}" is not a number: ${raw}`);
    return m[1].startsWith('0x') ? parseInt(m[1], 16) : Number(m[1]);
  };
  const status: PvecmStatus = {
    quorate: quorate === 'Yes',
    expectedVotes: int('Expected votes', true)!,
    totalVotes: int('Total votes', true)!,
    quorum: int('Quorum', true)!,
    flags: (fields['Flags'] ?? '').split(/\s+/).filter(Boolean),
    members: members(lines, 'pvecm status'),
  };
  const qdevice = qdeviceOf(lines, status.members);
  if (qdevice) status.qdevice = qdevice;
  const nodes = int('Nodes', false);
  if (nodes !== undefined) status.nodes = nodes;
  const nodeId = int('Node ID', false);
  if (nodeId !== undefined) status.nodeId = nodeId;
  const highest = int('Highest expected', false);
  if (highest !== undefined) status.highestExpected = highest;
  return status;
}

/** `pvecm nodes`: the members, by name, the local one marked. */
export function parsePvecmNodes(text: string): PvecmMember[] {
  const lines = text.split('\n');
  if (!lines.some((l) => MEMBER_HEADER.test(l))) throw new ParseError('pvecm nodes: no "Nodeid Votes Name" header');
  return members(lines, 'pvecm nodes');
}

// ---------------------------------------------------------------- pvesh JSON

function json(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ParseError(`${what}: output is not JSON: ${(error as Error).message}`);
  }
}

/** pvesh prints numbers, older versions sometimes numeric strings. */
const Num = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?$/).transform(Number)]);
const Flag = z.union([z.literal(0), z.literal(1), z.literal('0'), z.literal('1'), z.boolean()]).transform((v) => v === 1 || v === '1' || v === true);

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
