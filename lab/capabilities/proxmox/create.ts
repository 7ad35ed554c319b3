/**
 * `qm create` and `qm set`: a member's VM as the page makes it (Création de VMs): a stopped guest on this node, its
 * disk allocated on an LVM storage as lvcreate does (refused when the VG lacks the extents), an ISO in ide2, the
 * boot order, and raw QEMU args (the member's VNC display). The VMID is the cluster's: pmxcfs knows every node's.
 */
import { randomUUID } from 'node:crypto';
import { fail, ok, type CommandResult, type ExecContext } from '../../core/types.js';
import { badParameters, findGuest, isGuest, isResult, NO_QUORUM, parseOptions } from './cli.js';
import { clusterNodes, GiB, MiB, missingIso, quorumOf, storageActive, storageUsed, type PveDisk, type PveGuest, type PveNodeState } from './cluster.js';

const DISK_KEYS = ['scsi0', 'scsi1', 'virtio0', 'virtio1'];
const OSTYPES = ['other', 'wxp', 'w2k', 'w2k3', 'w2k8', 'wvista', 'win7', 'win8', 'win10', 'win11', 'l24', 'l26', 'solaris'];
const SCSIHW = ['lsi', 'lsi53c810', 'virtio-scsi-pci', 'virtio-scsi-single', 'megasas', 'pvscsi'];
const NIC_MODELS = ['virtio', 'e1000', 'rtl8139', 'vmxnet3'];
const DNS_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const BOOT_ORDER = /^order=((ide|sata|scsi|virtio)\d+|net\d+)(;((ide|sata|scsi|virtio)\d+|net\d+))*$/;
/** LVM's default extent: lvcreate counts free space in these. */
const EXTENT = 4 * MiB;

/** The first bootable device of the guest's boot order: ide2 with an ISO in it, or one of its disks. */
export function bootDevice(g: PveGuest): PveGuest['bootedFrom'] {
  const order = g.bootOrder?.replace(/^order=/, '').split(';') ?? [];
  for (const dev of order) {
    if (dev === 'ide2' && g.cdrom) return 'cdrom';
    if (g.disks.some((d) => d.key === dev)) return 'disk';
  }
  return undefined;
}

/** `VOLID,media=cdrom` → the ISO volume ('' for none), or null when it is not a cdrom drive. */
function parseCdrom(value: string): string | null {
  const [volid = '', ...opts] = value.split(',');
  if (!opts.includes('media=cdrom') || !volid || /\s/.test(volid)) return null;
  return volid === 'none' || volid === 'cdrom' ? '' : volid;
}

/** Checks of the options qm create and qm set share; one `name: reason` per refusal. */
function checkCommon(flags: Map<string, string>, errors: string[]): void {
  const boot = flags.get('boot');
  if (boot !== undefined && !BOOT_ORDER.test(boot)) errors.push('boot: invalid format - format error');
  const ide2 = flags.get('ide2');
  if (ide2 !== undefined && parseCdrom(ide2) === null) errors.push('ide2: invalid format - unable to parse drive options (the lab simulates only media=cdrom)');
}

function integer(key: string, v: string | undefined, min: number, errors: string[]): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) { errors.push(`${key}: type check ('integer') failed - got '${v}'`); return undefined; }
  if (Number(v) < min) errors.push(`${key}: value must have a minimum value of ${min}`);
  return Number(v);
}

function enumerated(flags: Map<string, string>, key: string, values: string[], errors: string[]): void {
  const v = flags.get(key);
  if (v !== undefined && !values.includes(v)) errors.push(`${key}: value '${v}' does not have a value in the enumeration '${values.join(', ')}'`);
}

/** `virtio,bridge=vmbr3,firewall=1` (a MAC may follow the model: `virtio=BC:24:11:…`) → the bridge. */
function parseNet(value: string): string | null {
  const [model = '', ...opts] = value.split(',');
  if (!NIC_MODELS.includes(model.split('=')[0]!)) return null;
  const bridge = opts.find((o) => o.startsWith('bridge='))?.slice('bridge='.length);
  return bridge && /^[A-Za-z][A-Za-z0-9_.-]*$/.test(bridge) ? bridge : null;
}

/** `STORAGE:GIB` (a new volume of that many GiB) → storage and size. */
function parseNewDisk(value: string): { storage: string; gib: number } | null {
  const m = /^([a-z][a-z0-9_.-]*[a-z0-9]):(\d+)(,.*)?$/i.exec(value);
  return m && Number(m[2]) > 0 ? { storage: m[1]!, gib: Number(m[2]) } : null;
}

/** Where the guest's disks go, as PVE allocates them, or why not (the message after "unable to create VM N - "). */
function allocate(state: PveNodeState, vmid: number, wanted: { key: string; storage: string; gib: number }[], ctx: ExecContext): PveDisk[] | string {
  const disks: PveDisk[] = [];
  for (const [i, w] of wanted.entries()) {
    const s = state.storages.find((x) => x.name === w.storage);
    if (!s) return `storage '${w.storage}' does not exist`;
    const volume = `vm-${vmid}-disk-${i}`;
    const lv = `lvcreate '${s.vg}/${volume}' error:   Volume group "${s.vg}"`;
    if (!storageActive(state, s)) return `${lv} not found`;
    const sizeBytes = w.gib * GiB;
    const planned = disks.filter((d) => d.storage === s.name).reduce((sum, d) => sum + d.sizeBytes, 0);
    const free = s.totalBytes - storageUsed(state, s, ctx.lab) - planned;
    if (sizeBytes > free) return `${lv} has insufficient free space (${Math.max(0, Math.floor(free / EXTENT))} extents): ${sizeBytes / EXTENT} required.`;
    disks.push({ key: w.key, storage: s.name, volume, sizeBytes });
  }
  return disks;
}

/** vgchange and lvs count a VG's volumes: a shared VG's count changes on every node that sees it. */
function countNewVolumes(state: PveNodeState, disks: PveDisk[], ctx: ExecContext): void {
  for (const d of disks) {
    const s = state.storages.find((x) => x.name === d.storage)!;
    for (const n of s.shared ? clusterNodes(state, ctx.lab) : [state]) {
      const v = n.luks?.volumes.find((x) => x.vg === s.vg);
      if (v) v.lvCount = (v.lvCount ?? 1) + 1;
    }
  }
}

export function qmCreate(state: PveNodeState, args: string[], ctx: ExecContext): CommandResult {
  const usage = 'qm create <vmid> [OPTIONS]';
  const p = parseOptions(args, ['name', 'memory', 'cores', 'sockets', 'ostype', 'scsihw', 'net0', 'ide2', 'boot', 'args', ...DISK_KEYS], ['onboot'], usage);
  if (isResult(p)) return p;
  const [id, ...extra] = p.positional;
  if (id === undefined) return fail(255, `400 not enough arguments\n${usage}\n`);
  if (extra.length) return fail(255, `400 too many arguments\n${usage}\n`);
  const f = p.flags;
  const errors: string[] = [];
  const vmid = integer('vmid', id, 100, errors);
  const name = f.get('name');
  if (name !== undefined && !DNS_NAME.test(name)) errors.push('name: invalid format - value does not look like a valid DNS name');
  const memory = integer('memory', f.get('memory'), 16, errors);
  const cores = integer('cores', f.get('cores'), 1, errors);
  const sockets = integer('sockets', f.get('sockets'), 1, errors);
  enumerated(f, 'ostype', OSTYPES, errors);
  enumerated(f, 'scsihw', SCSIHW, errors);
  const net0 = f.get('net0');
  const bridge = net0 === undefined ? '' : parseNet(net0);
  if (bridge === null) errors.push('net0: invalid format - format error');
  const wanted = DISK_KEYS.flatMap((key) => {
    const v = f.get(key);
    if (v === undefined) return [];
    const d = parseNewDisk(v);
    if (!d) { errors.push(`${key}: invalid format - unable to parse drive options (the lab simulates only STORAGE:SIZE_IN_GiB)`); return []; }
    return [{ key, ...d }];
  });
  checkCommon(f, errors);
  if (errors.length || vmid === undefined) return badParameters(errors, usage);

  if (!quorumOf(state, ctx.lab).quorate) return fail(255, NO_QUORUM);
  const refuse = (why: string) => fail(255, `unable to create VM ${vmid} - ${why}\n`);
  for (const n of clusterNodes(state, ctx.lab)) {
    const g = n.guests.find((x) => x.vmid === vmid);
    // PVE::Cluster::check_vmid_unused: the owner's type, VM or CT.
    if (g) return refuse(`${g.type === 'qemu' ? 'VM' : 'CT'} ${vmid} already exists on node '${n.name}'`);
  }
  const cdrom = f.has('ide2') ? parseCdrom(f.get('ide2')!) : '';
  // PVE resolves every volume before it allocates a disk: an ISO this node's storage lacks stops the create.
  const missing = cdrom ? missingIso(state, cdrom) : undefined;
  if (missing) return refuse(missing);
  const disks = allocate(state, vmid, wanted, ctx);
  if (typeof disks === 'string') return refuse(disks);
  const guest: PveGuest = {
    vmid, name: name ?? `VM${vmid}`, type: 'qemu', status: 'stopped',
    memBytes: (memory ?? 512) * MiB, cores: cores ?? 1, disks, bridge: bridge ?? '', onboot: f.get('onboot') === '1',
    ...(f.has('ostype') ? { ostype: f.get('ostype')! } : {}),
    ...(sockets !== undefined ? { sockets } : {}),
    ...(f.has('scsihw') ? { scsihw: f.get('scsihw')! } : {}),
    ...(f.has('args') ? { args: f.get('args')! } : {}),
    ...(f.has('boot') ? { bootOrder: f.get('boot')! } : {}),
    ...(cdrom ? { cdrom } : {}),
    vmgenid: randomUUID(), // PVE's default for a new VM ("1 (autogenerated)")
  };
  state.guests.push(guest);
  countNewVolumes(state, disks, ctx);
  return ok(disks.map((d) => `  Logical volume "${d.volume}" created.\n`).join(''));
}

/** `qm set` of what the onboarding changes: the boot order, the args, onboot and the cdrom. */
export function qmSet(state: PveNodeState, args: string[], ctx: ExecContext): CommandResult {
  const usage = 'qm set <vmid> [OPTIONS]';
  const p = parseOptions(args, ['boot', 'args', 'ide2'], ['onboot'], usage);
  if (isResult(p)) return p;
  const g = findGuest(state, 'qemu', p.positional[0], usage);
  if (!isGuest(g)) return g;
  const errors: string[] = [];
  checkCommon(p.flags, errors);
  if (errors.length) return badParameters(errors, usage);
  if (p.flags.size === 0) return fail(255, 'no options specified\n');
  if (!quorumOf(state, ctx.lab).quorate) return fail(255, NO_QUORUM);
  const iso = p.flags.has('ide2') ? parseCdrom(p.flags.get('ide2')!) : '';
  const missing = iso ? missingIso(state, iso) : undefined;
  if (missing) return fail(255, `${missing}\n`);
  for (const [key, value] of p.flags) {
    if (key === 'boot') g.bootOrder = value;
    if (key === 'args') g.args = value;
    if (key === 'onboot') g.onboot = value === '1';
    if (key === 'ide2') {
      const cdrom = parseCdrom(value);
      if (cdrom) g.cdrom = cdrom; else delete g.cdrom;
    }
  }
  // PVE::API2::Qemu logs the update with its parameters sorted by name.
  const logged = [...p.flags.keys()].sort().map((k) => `-${k} ${p.flags.get(k)}`).join(' ');
  return ok(`update VM ${g.vmid}: ${logged}\n`);
}
