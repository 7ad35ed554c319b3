/**
 * A Proxmox VE node of a cluster, as on the wiki pages "Virtualisation avec Proxmox" (FAImaison: three HPe DL360G7,
 * a shared IBM LUN in two LUKS / non-LUKS VGs, one local LUKS LUN each) and the ResEl cluster page.
 *
 * The cluster is not a separate object: each node's state holds the guests that live on it, and the nodes
 * see each other through ctx.lab. A migration moves the guest object from one node's state to the other's.
 * Quorum counts the cluster's nodes that run their system (power 'openssh'): a node in its initramfs is not
 * in corosync yet.
 */
import type { BaseHostState, LabView } from '../../core/types.js';
import type { WithLuks } from '../luks/index.js';
import type { CephState } from './ceph.js';
import { clustered, type CorosyncState } from './corosync-state.js';

export const GiB = 2 ** 30;
export const MiB = 2 ** 20;

export interface PveStorage {
  name: string;
  type: 'lvm' | 'lvmthin';
  /** Shared: the same LUN seen by every node (live migration needs no copy). */
  shared: boolean;
  vg: string;
  thinpool?: string;
  content: string;
  totalBytes: number;
}

export interface PveDisk {
  /** The config key: scsi0, virtio0, rootfs, mp0... */
  key: string;
  storage: string;
  /** vm-2001-disk-0 */
  volume: string;
  sizeBytes: number;
}

export interface PveGuest {
  vmid: number;
  name: string;
  type: 'qemu' | 'lxc';
  status: 'running' | 'stopped';
  memBytes: number;
  cores: number;
  disks: PveDisk[];
  /** vmbr2 for the association's guests, vmbr3 for the members' (page, "Adressage"). */
  bridge: string;
  onboot: boolean;
  /** A guest that ignores the ACPI shutdown: `qm shutdown --timeout` gives up. */
  hangsOnShutdown?: boolean;
  startedAt?: number;
  /** What `qm create`/`qm set` gave (absent on the presets' guests: renderConfig shows PVE's defaults). */
  ostype?: string;
  sockets?: number;
  scsihw?: string;
  /** Raw QEMU arguments, e.g. `-vnc 127.0.0.1:1001` (the member's VNC port is 5900 + the display). */
  args?: string;
  /** `order=ide2;scsi0` */
  bootOrder?: string;
  /** The ISO volume in ide2, e.g. `local:iso/debian-12.iso`. */
  cdrom?: string;
  /**
   * QEMU's VM generation id (`vmgenid`), which PVE gives every VM it creates and changes at every snapshot rollback
   * (PVE::QemuConfig's rollback hook: "tell the VM that it's another generation").
   */
  vmgenid?: string;
  /** Where the last start booted from, by the first bootable device of bootOrder. */
  bootedFrom?: 'cdrom' | 'disk';
  /** /etc/pve/firewall/VMID.fw: the guest's own, so it follows a migration (firewall.ts). */
  firewall?: PveFirewall;
}

export interface PveFirewall {
  ipsets: { name: string; cidrs: string[] }[];
  /** Only the options set, booleans as 0|1. */
  options: Record<string, string | number>;
}


/** The state of a Proxmox node: its hardware, storages and guests; its LUKS volumes are the LUKS capability's. */
export interface PveNodeState extends WithLuks {
  cluster: string;
  /** corosync node id (1-based). */
  nodeId: number;
  /** The corosync ring address, as `pvecm status` lists members. */
  address: string;
  /** Physical cores (2 × E5645, 6 cores each = 12) and threads (24, what Proxmox counts as maxcpu). */
  cores: number;
  threads: number;
  /** CPU sockets (cores are spread evenly); absent in older saved labs: 2, the DL360G7's. */
  sockets?: number;
  memBytes: number;
  /** Free bytes on /boot: the page asks for about 70 MB before an upgrade. */
  bootFreeBytes: number;
  /** This node's view of /etc/pve/storage.cfg; the shared entries are the same on every node. */
  storages: PveStorage[];
  guests: PveGuest[];
  bootedAt: number;
  /** Corosync and pmxcfs on this node (corosync.ts); absent in older saved labs: a member by cluster name. */
  corosync?: CorosyncState;
  /** Ceph's OSDs on this node and the cluster's pool (ceph.ts); absent without Ceph. */
  ceph?: CephState;
  /** The ISO images in this node's own `local` storage (/var/lib/vz/template/iso); absent in older saved labs: DEFAULT_ISOS. */
  isos?: string[];
}

/** What an installed node's `local` storage holds in the lab: the Debian installers the runbooks and tests name. */
export const DEFAULT_ISOS: readonly string[] = ['local:iso/debian-12.8.0-amd64-netinst.iso', 'local:iso/debian-12.5.0-amd64-netinst.iso'];
export const isosOf = (node: PveNodeState): readonly string[] => node.isos ?? DEFAULT_ISOS;
/** PVE's refusal of an ISO volume this node's `local` storage lacks (qm create, qm set, pvesm free), or undefined. */
export const missingIso = (node: PveNodeState, volid: string): string | undefined =>
  (isosOf(node).includes(volid) ? undefined : `volume '${volid}' does not exist`);

// ---------------------------------------------------------------- cluster view

/** Another host of the lab that is a Proxmox node (it has a cluster, storages and guests). */
function isNode(h: BaseHostState | undefined): h is PveNodeState {
  return h !== undefined && 'cluster' in h && 'storages' in h && 'guests' in h;
}

/**
 * The nodes of this node's cluster, ordered by node id; always includes `state` itself. Membership is the node's
 * own corosync.conf nodelist: after `pvecm delnode` the others no longer list the node, and a separated node
 * (its configuration removed) is a cluster of one.
 */
export function clusterNodes(state: PveNodeState, lab: LabView): PveNodeState[] {
  if (state.corosync && !clustered(state.corosync)) return [state];
  const listed = (n: PveNodeState) => !state.corosync || state.corosync.nodelist.some((x) => x.name === n.name);
  const others = lab.hosts().filter(isNode).filter((n) => n.cluster === state.cluster && n.name !== state.name && listed(n));
  return [state, ...others].sort((a, b) => a.nodeId - b.nodeId);
}

export const online = (n: PveNodeState) => n.power === 'openssh';

/** A node that votes: running, corosync active with a configuration. */
export const voting = (n: PveNodeState) => online(n) && (!n.corosync || (n.corosync.units.corosync && clustered(n.corosync)));

export interface QuorumView {
  expected: number;
  total: number;
  quorum: number;
  quorate: boolean;
  members: PveNodeState[];
  /** The quorum device's votes, when the cluster has one, and whether it casts them (it does for a partition with a member). */
  qdevice?: { votes: number; casting: boolean };
}

/** votequorum: every node listed gives one expected vote, the QDevice its own; quorum is a strict majority. */
export function quorumOf(state: PveNodeState, lab: LabView): QuorumView {
  const nodes = clusterNodes(state, lab);
  if (state.corosync && !clustered(state.corosync)) return { expected: 1, total: 1, quorum: 1, quorate: true, members: [state] };
  const members = nodes.filter(voting);
  const q = state.corosync?.qdevice;
  const casting = !!q && members.length > 0;
  const expected = state.corosync?.expectedVotes ?? nodes.length + (q?.votes ?? 0);
  const total = members.length + (casting ? q!.votes : 0);
  const quorum = Math.floor(expected / 2) + 1;
  return { expected, total, quorum, quorate: total >= quorum, members, ...(q ? { qdevice: { votes: q.votes, casting } } : {}) };
}

/** A LUKS-backed VG is there only once its volume is open and the VG activated; the others always are. */
export function storageActive(node: PveNodeState, storage: PveStorage): boolean {
  if (!online(node)) return false;
  const volume = node.luks?.volumes.find((v) => v.vg === storage.vg);
  return volume ? volume.open && volume.vgActive : true;
}

export function storageUsed(state: PveNodeState, storage: PveStorage, lab: LabView): number {
  const owners = storage.shared ? clusterNodes(state, lab) : [state];
  return owners.flatMap((n) => n.guests).flatMap((g) => g.disks).filter((d) => d.storage === storage.name).reduce((s, d) => s + d.sizeBytes, 0);
}

export function memUsed(node: PveNodeState): number {
  return node.guests.filter((g) => g.status === 'running').reduce((s, g) => s + g.memBytes, 0);
}
