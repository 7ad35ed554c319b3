/**
 * The Proxmox VE node host kind, and the preset of the wiki pages' cluster: three nodes with encrypted roots, a
 * shared LUN in two VGs (LUKS and clear) and one local LUKS LUN each.
 */
import { createHash } from 'node:crypto';
import { matchGroupBlock } from '../../common/commands.js';
import { accounts, type WithAccounts } from '../capabilities/ganeti/accounts.js';
import { luks, luksState, luksVolume } from '../capabilities/luks/index.js';
import { ceph, corosync, corosyncMember, GiB, MiB, proxmox, type PveGuest, type PveNodeState, type PveStorage } from '../capabilities/proxmox/index.js';
import { DEBIAN_SSHD_CONFIG, sshd, sshdState } from '../capabilities/sshd/index.js';
import { hostKind, registerPresets } from '../core/registry.js';
import type { LabClusterSpec, LabHostSpec } from '../core/types.js';

export { GiB, MiB, pveSize, quorumOf, storageActive, type PveDisk, type PveGuest, type PveStorage, type QuorumView } from '../capabilities/proxmox/index.js';

/** Its groups, sshd_config and members' jailed accounts are optional: older saved labs have none. */
export interface ProxmoxNodeState extends PveNodeState, WithAccounts {
  kind: 'proxmox-node';
}

export const proxmoxNode = hostKind<ProxmoxNodeState>('proxmox-node', [proxmox, corosync, ceph, luks, sshd, accounts]);

// ---------------------------------------------------------------- preset

/** Per-node hardware; defaults are the page's DL360G7: 2 × E5645 (12 cores, 24 threads), 64 GiB. */
export interface ProxmoxNodeCapacity {
  cores?: number;
  threads?: number;
  /** CPU sockets, default 2. */
  sockets?: number;
  memBytes?: number;
  bootFreeBytes?: number;
}

export interface ProxmoxClusterOptions {
  /** Cluster name (pvecm). Default 'fma'. */
  cluster?: string;
  /** Node names in node-id order. Default the page's skumenn, gueuza, kurun. */
  names?: string[];
  /** LUKS passphrases; defaults from proxmoxPassphrase(). */
  passphrases?: { root?: Record<string, string>; shared?: string; local?: Record<string, string> };
  /** Hardware of every node, then per node (by name): e.g. make the other nodes too small to take a drain. */
  capacity?: ProxmoxNodeCapacity;
  nodeCapacity?: Record<string, ProxmoxNodeCapacity>;
  /** Guests per node name, replacing the default mix (proxmoxDefaultGuests). */
  guests?: Record<string, PveGuest[]>;
  /** The address of a QDevice (corosync-qnetd on another machine, `pvecm qdevice setup`): votes 2 → 3 on the page. */
  qdevice?: string;
  /** Ceph: OSD ids per node name, and the pool (size/min_size, how long an OSD marked out takes to drain). */
  ceph?: { osds: Record<string, number[]>; mons?: string[]; mgrs?: string[]; size?: number; minSize?: number; drainMs?: number };
  bootDelayMs?: number;
  maxUnlockTries?: number;
  unlockBootDelayMs?: number;
  /** The members' hypervisor setup done on every node, as on Ganeti's: the group ref-host-vm and its Match group block. */
  prepared?: boolean;
  /** The ISO images in `local` per node name, replacing DEFAULT_ISOS (e.g. a node the installer was never uploaded to). */
  isos?: Record<string, string[]>;
}

const MEMBERS_GROUP = 'ref-host-vm';

export const STORAGE_LUKS_SHARED = 'lvm_luks_shared';
export const STORAGE_NOLUKS_SHARED = 'lvm_noluks_shared';
export const STORAGE_LUKS_LOCAL = 'lvmthin_luks_local';

/** The page's LUNs: 2 To shared and encrypted, 10 To shared in clear, 300 Go local and encrypted (thin). */
export function proxmoxStorages(): PveStorage[] {
  return [
    { name: STORAGE_LUKS_SHARED, type: 'lvm', shared: true, vg: 'vg_fma_luks', content: 'images,rootdir', totalBytes: 2 * 2 ** 40 },
    { name: STORAGE_NOLUKS_SHARED, type: 'lvm', shared: true, vg: 'vg_fma_noluks', content: 'images,rootdir', totalBytes: 10 * 2 ** 40 },
    { name: STORAGE_LUKS_LOCAL, type: 'lvmthin', shared: false, vg: 'vg_local_luks', thinpool: 'data', content: 'images,rootdir', totalBytes: 300 * GiB },
  ];
}

/** The lab's default passphrase for a node's root, the shared LUN, or a node's local LUN. */
export function proxmoxPassphrase(opts: ProxmoxClusterOptions, volume: 'root' | 'shared' | 'local', node: string): string {
  if (volume === 'shared') return opts.passphrases?.shared ?? 'lab fma shared LUN passphrase';
  return opts.passphrases?.[volume]?.[node] ?? `lab ${node} ${volume} passphrase`;
}

function guest(vmid: number, name: string, type: PveGuest['type'], storage: string, diskGiB: number, memMiB: number, cores: number, status: PveGuest['status'] = 'running'): PveGuest {
  const key = type === 'lxc' ? 'rootfs' : vmid >= 2000 ? 'virtio0' : 'scsi0';
  return {
    vmid, name, type, status, memBytes: memMiB * MiB, cores,
    disks: [{ key, storage, volume: `vm-${vmid}-disk-0`, sizeBytes: diskGiB * GiB }],
    // Association guests on vmbr2, members' VMs on vmbr3 (page, "Adressage").
    bridge: vmid >= 2000 ? 'vmbr3' : 'vmbr2',
    onboot: true,
    ...(type === 'qemu' ? { vmgenid: labUuid(`vmgenid/${vmid}`) } : {}),
  };
}

/**
 * The default mix, per node (the page's ids: 1000-1999 association, 2000-2999 members). On each node: association
 * VMs and a container on lvm_luks_shared, members' VMs on lvm_noluks_shared, and on the first two nodes a member
 * VM on lvmthin_luks_local that cannot migrate live; the third has a container on its local LUN.
 */
export function proxmoxDefaultGuests(names: string[]): Record<string, PveGuest[]> {
  const [a = 'pve1', b = 'pve2', c = 'pve3'] = names;
  return {
    [a]: [
      guest(1001, 'web', 'qemu', STORAGE_LUKS_SHARED, 20, 2048, 2),
      guest(1002, 'mail', 'qemu', STORAGE_LUKS_SHARED, 40, 4096, 2),
      guest(1101, 'dns1', 'lxc', STORAGE_LUKS_SHARED, 8, 512, 1),
      guest(2001, 'REF-VM-01', 'qemu', STORAGE_NOLUKS_SHARED, 20, 1024, 1),
      guest(2002, 'REF-VM-02', 'qemu', STORAGE_NOLUKS_SHARED, 50, 2048, 2),
      guest(2003, 'REF-VM-03', 'qemu', STORAGE_NOLUKS_SHARED, 20, 1024, 1, 'stopped'),
      guest(2010, 'REF-VM-10', 'qemu', STORAGE_LUKS_LOCAL, 30, 2048, 2),
    ],
    [b]: [
      guest(1003, 'cloud', 'qemu', STORAGE_LUKS_SHARED, 100, 4096, 2),
      guest(1102, 'dns2', 'lxc', STORAGE_LUKS_SHARED, 8, 512, 1),
      guest(2004, 'REF-VM-04', 'qemu', STORAGE_NOLUKS_SHARED, 20, 1024, 1),
      guest(2005, 'REF-VM-05', 'qemu', STORAGE_NOLUKS_SHARED, 20, 2048, 1),
      guest(2011, 'REF-VM-11', 'qemu', STORAGE_LUKS_LOCAL, 20, 1024, 1),
    ],
    [c]: [
      guest(1004, 'monitoring', 'qemu', STORAGE_LUKS_SHARED, 20, 2048, 2),
      guest(1103, 'ansible', 'lxc', STORAGE_LUKS_SHARED, 8, 1024, 1),
      guest(1104, 'backup', 'lxc', STORAGE_LUKS_LOCAL, 100, 1024, 1),
      guest(2006, 'REF-VM-06', 'qemu', STORAGE_NOLUKS_SHARED, 20, 1024, 1),
      guest(2007, 'REF-VM-07', 'qemu', STORAGE_NOLUKS_SHARED, 20, 4096, 2),
    ],
  };
}

/** A stable UUID for a LUN of the lab that the page does not show. */
function labUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The shared LUN's multipath WWID is the page's; each node's own LUN follows it (…2e, …2f, …30). */
const WWID_PREFIX = '36005076802810cce88000000000000';
export const SHARED_LUN_WWID = `${WWID_PREFIX}2d`;
export function localLunWwid(index: number): string {
  return `${WWID_PREFIX}${(0x2e + index).toString(16).padStart(2, '0')}`;
}

/**
 * A Proxmox cluster as on the page: three nodes, one shared LUN (two VGs: vg_fma_luks encrypted, vg_fma_noluks
 * in clear), one local encrypted LUN per node, an encrypted root unlocked in the initramfs. The first node
 * gets the page's own UUIDs (blkid output). Nodes are "found running": LUKS volumes open, VGs active.
 */
export function proxmoxCluster(opts: ProxmoxClusterOptions = {}): { hosts: LabHostSpec<ProxmoxNodeState>[]; clusters: LabClusterSpec[] } {
  const names = opts.names ?? ['skumenn', 'gueuza', 'kurun'];
  const cluster = opts.cluster ?? 'fma';
  const guests = opts.guests ?? proxmoxDefaultGuests(names);
  const allGuests = Object.values(guests).flat();
  const nodelist = names.map((name, i) => ({ name, nodeId: i + 1, address: `10.10.10.${24 + i}` }));
  const lvsOn = (storage: string, list: PveGuest[]) => list.flatMap((g) => g.disks).filter((d) => d.storage === storage).length;
  const hosts = names.map((name, i): LabHostSpec<ProxmoxNodeState> => {
    const own = guests[name] ?? [];
    const cap = { ...opts.capacity, ...opts.nodeCapacity?.[name] };
    const volumes = [
      luksVolume({
        uuid: i === 0 ? '43b0c19b-977b-4fc7-838a-c38494a7681c' : labUuid(`${name}/root`),
        paths: ['/dev/sda5'], name: 'sda5_crypt', root: true, vg: 'pve', lvCount: 3,
        ...(i === 0 ? { partuuid: '46a561e0-05' } : {}),
        passphrases: [proxmoxPassphrase(opts, 'root', name)],
      }),
      luksVolume({
        uuid: '0c5a3449-73bd-4e2b-a00f-d807b1bb74ad',
        paths: ['/dev/sdd', '/dev/sdg', `/dev/mapper/${SHARED_LUN_WWID}`], name: 'vg_fma_luks', vg: 'vg_fma_luks',
        lvCount: Math.max(1, lvsOn(STORAGE_LUKS_SHARED, allGuests)),
        passphrases: [proxmoxPassphrase(opts, 'shared', name)],
      }),
      luksVolume({
        uuid: i === 0 ? 'b93272fd-e26f-407f-aa3b-a85c388e89ab' : labUuid(`${name}/local`),
        paths: ['/dev/sdb', '/dev/sde', `/dev/mapper/${localLunWwid(i)}`], name: 'vg_local_luks', vg: 'vg_local_luks',
        lvCount: 1 + lvsOn(STORAGE_LUKS_LOCAL, own), // the thin pool and its volumes
        passphrases: [proxmoxPassphrase(opts, 'local', name)],
      }),
    ];
    for (const v of volumes) { v.open = true; v.openedFrom = v.paths[v.paths.length - 1]!; v.vgActive = true; }
    const ssh = sshdState(opts.prepared ? `${DEBIAN_SSHD_CONFIG}\n${matchGroupBlock(MEMBERS_GROUP)}\n` : DEBIAN_SSHD_CONFIG);
    if (opts.prepared) ssh.groups!.push({ name: MEMBERS_GROUP, gid: 1001 });
    const state: ProxmoxNodeState = {
      name, kind: 'proxmox-node', power: 'down', bootCount: 0, bootDelayMs: opts.bootDelayMs ?? 3000,
      luks: luksState(volumes, {
        ...(opts.maxUnlockTries !== undefined ? { maxUnlockTries: opts.maxUnlockTries } : {}),
        ...(opts.unlockBootDelayMs !== undefined ? { unlockBootDelayMs: opts.unlockBootDelayMs } : {}),
      }),
      cluster, nodeId: i + 1, address: `10.10.10.${24 + i}`,
      cores: cap.cores ?? 12, threads: cap.threads ?? 24, sockets: cap.sockets ?? 2, memBytes: cap.memBytes ?? 64 * GiB,
      bootFreeBytes: cap.bootFreeBytes ?? 180 * 1e6,
      storages: proxmoxStorages(),
      guests: own.map((g) => structuredClone(g)),
      ...(opts.isos?.[name] ? { isos: [...opts.isos[name]!] } : {}),
      bootedAt: 0,
      corosync: corosyncMember(nodelist[i]!, cluster, nodelist, opts.qdevice),
      ...ssh,
      ...(opts.ceph ? {
        ceph: {
          osds: (opts.ceph.osds[name] ?? []).map((id) => ({ id, in: true, up: true, pgs: 64 })),
          ...(opts.ceph.mons?.includes(name) ? { mon: true } : {}),
          ...(opts.ceph.mgrs?.includes(name) ? { mgr: true } : {}),
          pool: { name: 'ceph-vm', size: opts.ceph.size ?? 3, minSize: opts.ceph.minSize ?? 2, drainMs: opts.ceph.drainMs ?? 5000 },
        },
      } : {}),
    };
    return { name, kind: 'proxmox-node', state, location: `lab: simulated Proxmox node ${i + 1} of ${cluster} (HPe DL360G7), shared LUN on /dev/sdd and /dev/sdg` };
  });
  return { hosts, clusters: [{ name: cluster, kind: 'proxmox', hosts: names }] };
}

declare module '../core/registry.js' {
  interface Presets {
    proxmoxCluster: typeof proxmoxCluster;
  }
}
registerPresets({ proxmoxCluster });
