/**
 * The procedures' commands, built once with `sh`: the plan shown for approval and the activities that run it
 * use the same functions, so what a person approves is what runs. Pure code, imported by workflows.
 */
import { sh, type Command } from './shell.js';

export type GuestType = 'qemu' | 'lxc';

/** `qm` for VMs, `pct` for containers. */
const tool = (type: GuestType) => (type === 'qemu' ? sh`qm` : sh`pct`);

export const proxmox = {
  quorum: () => sh`pvecm status`,
  clusterResources: () => sh`pvesh get /cluster/resources --output-format json`,
  storageList: () => sh`pvesh get /storage --output-format json`,
  storageStatus: () => sh`pvesm status`,
  guestConfig: (type: GuestType, vmid: number) => sh`${tool(type)} config ${vmid}`,
  /** VMs on shared storage move live; containers cannot, they restart on the other node. */
  migrate: (type: GuestType, vmid: number, to: string) =>
    type === 'qemu' ? sh`qm migrate ${vmid} ${to} --online` : sh`pct migrate ${vmid} ${to} --restart`,
  shutdown: (type: GuestType, vmid: number, timeoutSeconds: number) => sh`${tool(type)} shutdown ${vmid} --timeout ${timeoutSeconds}`,
  start: (type: GuestType, vmid: number) => sh`${tool(type)} start ${vmid}`,
  bootFree: () => sh`df -B1 --output=avail /boot`,
  /** VM snapshots: only on storages with the snapshot feature (the page: lvmthin_luks_local). */
  snapshot: (vmid: number, name: string, description: string) => sh`qm snapshot ${vmid} ${name} --description ${description}`,
  rollback: (vmid: number, name: string) => sh`qm rollback ${vmid} ${name}`,
  deleteSnapshot: (vmid: number, name: string) => sh`qm delsnapshot ${vmid} ${name}`,
  listSnapshots: (vmid: number) => sh`qm listsnapshot ${vmid}`,
  vmStatus: (vmid: number) => sh`qm status ${vmid}`,
};

/**
 * "Création de VMs" (proxmox-faimaison-vm-creation-and-planned-reboot.txt): a member's VM, its firewall (the page's
 * clicks "Firewall → IPSet → Create, Name : ipfilter-net0" and "Firewall → Options" through pvesh), its boot order.
 */
export interface PveMemberVm {
  vmid: number;
  /** REF-VM-N: "pour les VMs adhérents, on utilisera la référence en interne". */
  name: string;
  memoryMiB: number;
  cores: number;
  bridge: string;
  storage: string;
  diskGiB: number;
  /** The installer ISO the VM boots first. */
  iso: string;
}

/** The members' VM ids: "De 2000 à 2999 pour les VMs adhérents". */
export const MEMBER_VMIDS = { first: 2000, last: 2999 } as const;

/** The IPSet the Proxmox IP filter reads for net0. */
export const MEMBER_IPSET = 'ipfilter-net0';

/** "Firewall, MAC Filter, IP Filter à Yes et DHCP et Router Advertisement à No", "Input Policy à ACCEPT". */
export const MEMBER_FIREWALL_OPTIONS = { enable: 1, macfilter: 1, ipfilter: 1, dhcp: 0, radv: 0, policy_in: 'ACCEPT' } as const;

/**
 * The member's VNC display: QEMU's own VNC server on the node's loopback, reached only through the member's jailed
 * tunnel (the PVE wiki's "VNC Client Access": `args: -vnc …`). Display vmid − 1000 puts members' VMs (2000–2999) on
 * ports 6900–7899: clear of Proxmox's own 5900–5999 (its console proxy) and 8006 (the web UI), one port per VM id.
 */
export const memberVncDisplay = (vmid: number) => vmid - 1000;
export const memberVncPort = (vmid: number) => 5900 + memberVncDisplay(vmid);

const firewall = (node: string, vmid: number) => `/nodes/${node}/qemu/${vmid}/firewall`;

export const pveMember = {
  nodeStatus: (node: string) => sh`pvesh get ${`/nodes/${node}/status`} --output-format json`,
  /** The ISO images a node's storage holds (`pvesm list STORAGE --content iso`, through the API). */
  isoContent: (node: string, storage: string) => sh`pvesh get ${`/nodes/${node}/storage/${storage}/content`} --content iso --output-format json`,
  create: (vm: PveMemberVm) => sh`qm create ${vm.vmid} --name ${vm.name} --memory ${vm.memoryMiB} --cores ${vm.cores} --sockets 1 --ostype l26 --scsihw virtio-scsi-pci --net0 ${`virtio,bridge=${vm.bridge},firewall=1`} --scsi0 ${`${vm.storage}:${vm.diskGiB}`} --ide2 ${`${vm.iso},media=cdrom`} --boot 'order=ide2;scsi0' --args ${`-vnc 127.0.0.1:${memberVncDisplay(vm.vmid)}`}`,
  ipsets: (node: string, vmid: number) => sh`pvesh get ${`${firewall(node, vmid)}/ipset`} --output-format json`,
  createIpset: (node: string, vmid: number) => sh`pvesh create ${`${firewall(node, vmid)}/ipset`} --name ${MEMBER_IPSET}`,
  ipsetEntries: (node: string, vmid: number) => sh`pvesh get ${`${firewall(node, vmid)}/ipset/${MEMBER_IPSET}`} --output-format json`,
  addToIpset: (node: string, vmid: number, ip: string) => sh`pvesh create ${`${firewall(node, vmid)}/ipset/${MEMBER_IPSET}`} --cidr ${ip}`,
  options: (node: string, vmid: number) => sh`pvesh get ${`${firewall(node, vmid)}/options`} --output-format json`,
  setOptions: (node: string, vmid: number) => sh`pvesh set ${`${firewall(node, vmid)}/options`} ${Object.entries(MEMBER_FIREWALL_OPTIONS).flatMap(([k, v]) => [`--${k}`, v])}`,
  config: (vmid: number) => sh`qm config ${vmid}`,
  /** Once the member says the install is done: the disk first (the ISO stays attached, unused). */
  bootFromDisk: (vmid: number) => sh`qm set ${vmid} --boot order=scsi0`,
};

/**
 * "Démonter notre cluster Proxmox" (proxmox-ceph-cluster-build-and-teardown.txt): the page's lines, and the
 * reads that guard them. No glob, no killall: the files to remove are listed first and named, the local pmxcfs
 * is stopped by its pid.
 */
export type ClusterUnit = 'pve-cluster' | 'corosync';
export const pveCluster = {
  nodes: () => sh`pvecm nodes`,
  /** The nodelist every member holds (pvecm nodes lists only the members online now). */
  config: () => sh`cat /etc/pve/corosync.conf`,
  isActive: (unit: ClusterUnit) => sh`systemctl is-active ${unit}`,
  stop: (unit: ClusterUnit) => sh`systemctl stop ${unit}`,
  start: (unit: ClusterUnit) => sh`systemctl start ${unit}`,
  localMode: () => sh`pmxcfs -l`,
  pmxcfsPids: () => sh`pidof pmxcfs`,
  /** As the plan shows it; the activity sends `kill PID` with the one pid it found (pve-cluster stopped: the local one). */
  stopLocalPmxcfs: () => sh`kill "$(pidof pmxcfs)"`,
  kill: (pid: number) => sh`kill ${pid}`,
  exists: (path: string) => sh`test -e ${path}`,
  list: (dir: string) => sh`ls -A ${dir}`,
  makeDir: (dir: string) => sh`mkdir -p ${dir}`,
  copy: (paths: readonly string[], dir: string) => sh`cp -a ${paths} ${dir}`,
  remove: (paths: readonly string[]) => sh`rm -rf ${paths}`,
  deleteNode: (node: string) => sh`pvecm delnode ${node}`,
  removeQdevice: () => sh`pvecm qdevice remove`,
  /** votequorum's expected votes for this partition (corosync-quorumtool -e): a member left alone regains quorum. */
  expectVotes: (votes: number) => sh`pvecm expected ${votes}`,
};

/** Ceph on Proxmox (pveceph.adoc, Ceph's "Adding/Removing OSDs"): an OSD leaves only once its data has moved. */
export const ceph = {
  tree: () => sh`ceph osd tree --format json`,
  pools: () => sh`ceph osd pool ls detail --format json`,
  okToStop: (id: number) => sh`ceph osd ok-to-stop ${id}`,
  out: (id: number) => sh`ceph osd out ${id}`,
  safeToDestroy: (id: number) => sh`ceph osd safe-to-destroy ${id}`,
  isActive: (id: number) => sh`systemctl is-active ${`ceph-osd@${id}`}`,
  stop: (id: number) => sh`systemctl stop ${`ceph-osd@${id}`}`,
  destroy: (id: number) => sh`pveceph osd destroy ${id}`,
  monitors: () => sh`ceph mon dump --format json`,
  monOkToRemove: (name: string) => sh`ceph mon ok-to-rm ${name}`,
  destroyMon: (name: string) => sh`pveceph mon destroy ${name}`,
  managers: () => sh`ceph mgr dump --format json`,
  destroyMgr: (name: string) => sh`pveceph mgr destroy ${name}`,
  destroyPool: (name: string) => sh`pveceph pool destroy ${name}`,
};

export const luks = {
  /** Initramfs (dropbear): the passphrase on stdin, without a trailing newline (askpass would keep it). */
  unlockRoot: () => sh`cryptroot-unlock`,
  devices: () => sh`blkid -t TYPE=crypto_LUKS`,
  crypttab: () => sh`cat /etc/crypttab`,
  openVolumes: () => sh`dmsetup ls --target crypt`,
  /** The whole of stdin is the key: no newline is added. */
  open: (device: string, name: string) => sh`cryptsetup luksOpen --key-file=- ${device} ${name}`,
  activateVolumeGroups: () => sh`vgchange -ay`,
  /** Every logical volume with its attributes (the 5th letter is `a` when it is active). */
  logicalVolumes: () => sh`lvs --noheadings -o vg_name,lv_attr`,
  testPassphrase: (device: string) => sh`cryptsetup luksOpen --test-passphrase --key-file=- ${device}`,
  /** Line mode: stdin holds the existing passphrase, a newline, the new one and a newline. */
  addKey: (device: string) => sh`cryptsetup luksAddKey ${device}`,
  removeKey: (device: string) => sh`cryptsetup luksRemoveKey --key-file=- ${device}`,
};

export const xen = {
  domains: () => sh`xl list`,
  /** Without -w: `xl shutdown -w` has no timeout of its own; the runbook polls `xl list` with its own bound. */
  shutdown: (domain: string) => sh`xl shutdown ${domain}`,
  destroy: (domain: string) => sh`xl destroy ${domain}`,
  create: (config: string) => sh`xl create ${config}`,
};

/** LVM on a Xen dom0 (page: "Extension de la taille d'une partition de VM", "Snapshot d'une VM"). Volumes by VG and LV name. */
export const lvm = {
  /** In bytes, without headings or suffix: the numbers a refusal quotes. */
  volumeGroup: (vg: string) => sh`vgs --units b --nosuffix --noheadings -o vg_name,vg_extent_size,vg_free ${vg}`,
  volume: (vg: string, lv: string) => sh`lvs --units b --nosuffix --noheadings -o lv_name,lv_size ${`${vg}/${lv}`}`,
  /** `-r`: the filesystem inside grows with the volume (fsadm); SIZE as LVM takes it, e.g. 2G. */
  grow: (vg: string, lv: string, add: string) => sh`lvresize -r -L ${`+${add}`} ${`/dev/${vg}/${lv}`}`,
  snapshot: (vg: string, origin: string, name: string, size: string) => sh`lvcreate -L ${size} -s -n ${name} ${`/dev/${vg}/${origin}`}`,
  /** A snapshot's origin (an empty line for a volume that is not a snapshot). */
  originOf: (vg: string, lv: string) => sh`lvs --noheadings -o origin ${`${vg}/${lv}`}`,
  snapshotFill: (vg: string, snapshot: string) => sh`lvs --noheadings -o snap_percent ${`${vg}/${snapshot}`}`,
  remove: (vg: string, lv: string) => sh`lvremove -y ${`/dev/${vg}/${lv}`}`,
  merge: (vg: string, snapshot: string) => sh`lvconvert --merge ${`/dev/${vg}/${snapshot}`}`,
};

/** The dom0's root filesystem, read-only on the page's dom0 except for what must write to it. */
export const rootfs = {
  options: () => sh`findmnt --noheadings --output OPTIONS /`,
  remount: (mode: 'rw' | 'ro') => sh`mount -o ${`remount,${mode}`} /`,
};

/** A Ganeti hypervisor's OpenSSH server (page: "Pour configurer les hyperviseurs"). */
export const sshdConfig = {
  groupExists: (group: string) => sh`getent group ${group}`,
  addGroup: (group: string) => sh`addgroup ${group}`,
  read: () => sh`cat /etc/ssh/sshd_config`,
  backup: (to: string) => sh`cp -p /etc/ssh/sshd_config ${to}`,
  /** The whole new file on stdin. */
  write: () => sh`tee /etc/ssh/sshd_config`,
  check: () => sh`sshd -t`,
  restore: (from: string) => sh`cp -p ${from} /etc/ssh/sshd_config`,
  reload: () => sh`systemctl reload ssh`,
};

/**
 * The commands of one change of sshd_config by run `workflowId`: a copy of the file named after the run (put back
 * if `sshd -t` refuses the new one), the write (the whole file on stdin), the reload.
 */
export function sshdConfigChange(workflowId: string) {
  const backupPath = `/etc/ssh/sshd_config.before-${workflowId.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 100)}`;
  return { backup: sshdConfig.backup(backupPath), write: sshdConfig.write(), reload: sshdConfig.reload(), restore: sshdConfig.restore(backupPath) };
}

/**
 * The page's block for the members' jailed users: no agent, no stream-local or X11 forwarding, no tty, no tunnel,
 * no user rc, no port opened but the one each user's own `Match User` block allows.
 */
export function matchGroupBlock(group: string): string {
  return [
    `Match group ${group}`,
    ...['AllowAgentForwarding no', 'AllowStreamLocalForwarding no', 'X11Forwarding no', 'PermitTTY no', 'PermitTunnel no', 'PermitUserRC no', 'PermitOpen none'].map((l) => `    ${l}`),
    'Match all # end Match group block',
  ].join('\n');
}

/** Ganeti, on the master only (page: "Toutes les commandes ganeti sont à exécuter sur l'hyperviseur maître"). */
export const gnt = {
  /** What the least-loaded pair is chosen from: free memory and disk (MiB with --separator), instance counts. */
  nodes: () => sh`gnt-node list --no-headers --separator=${'|'} -o name,mfree,dfree,pinst_cnt,sinst_cnt`,
  /** The page's `gnt-instance list -o +network_port`, in the script format. */
  instances: () => sh`gnt-instance list --no-headers --separator=${'|'} -o name,pnode,snodes,status,network_port,nic.ips,hv/boot_order`,
  /** The page's add: `-s 10G --net 0:ip=$IP_VM,mode=routed,mac=generate -o debootstrap+default --node P:S NAME`. */
  add: (o: { name: string; ip: string; pnode: string; snode: string; diskGiB: number; os: string }) =>
    sh`gnt-instance add -s ${`${o.diskGiB}G`} --net ${`0:ip=${o.ip},mode=routed,mac=generate`} -o ${o.os} --node ${`${o.pnode}:${o.snode}`} ${o.name}`,
  shutdown: (name: string) => sh`gnt-instance shutdown ${name}`,
  bootFromDisk: (name: string) => sh`gnt-instance modify -H boot_order=disk ${name}`,
  startup: (name: string) => sh`gnt-instance startup ${name}`,
  /** The page's `gnt-instance migrate -n $NEW_NODE`; -f because nobody answers the cli's question over ssh. */
  migrate: (name: string, node: string) => sh`gnt-instance migrate -f -n ${node} ${name}`,
};

/** A member's jailed account on the hypervisor (page: adduser, authorized_keys, banner). Files are written whole, on stdin. */
export const jailedAccount = {
  passwd: (user: string) => sh`getent passwd ${user}`,
  add: (user: string, gid: number) => sh`adduser --gecos '' --gid ${gid} --disabled-password --shell /bin/false ${user}`,
  mkdir: (dir: string) => sh`mkdir -p ${dir}`,
  read: (path: string) => sh`cat ${path}`,
  write: (path: string) => sh`tee ${path}`,
};

/**
 * The member's own block: the banner and the one port their tunnel may open. sshd takes the first value it finds
 * for a keyword, so this block goes before the `Match group` block (whose `PermitOpen none` would win otherwise).
 */
export function matchUserBlock(user: string, vncPort: number): string {
  return [`Match User ${user}`, `    Banner /home/${user}/banner`, `    PermitOpen localhost:${vncPort}`].join('\n');
}

/** The partition's kernel name on a disk: `sdc` + 3 → `sdc3`, `nvme0n1` + 3 → `nvme0n1p3`. */
export function partitionOf(disk: string, partition: number): string {
  return /\d$/.test(disk) ? `${disk}p${partition}` : `${disk}${partition}`;
}

/** mdadm RAID1, "Remplacement de disque physique". Arrays and disks by kernel name (`md1`, `sdb`, `sdb3`). */
export const raid = {
  status: () => sh`cat /proc/mdstat`,
  detail: (array: string) => sh`mdadm --detail ${`/dev/${array}`}`,
  fail: (array: string, partition: string) => sh`mdadm --manage ${`/dev/${array}`} --fail ${`/dev/${partition}`}`,
  remove: (array: string, partition: string) => sh`mdadm --manage ${`/dev/${array}`} --remove ${`/dev/${partition}`}`,
  add: (array: string, partition: string) => sh`mdadm --manage ${`/dev/${array}`} --add ${`/dev/${partition}`}`,
};

/** The LSBLK columns the disk runbook reads (the lab answers exactly this command). */
export const LSBLK_COLUMNS = 'NAME,KNAME,PKNAME,TYPE,SIZE,SERIAL,MODEL,FSTYPE';

export const disks = {
  list: () => sh`lsblk --json --bytes --output ${LSBLK_COLUMNS}`,
  dumpTable: (name: string) => sh`sfdisk --dump ${`/dev/${name}`}`,
  /** The partition table script on stdin (the survivor's, without its GUIDs). */
  writeTable: (name: string) => sh`sfdisk ${`/dev/${name}`}`,
  bootCode: (name: string) => sh`dd ${`if=/dev/${name}`} bs=440 count=1 status=none`,
  installBootloader: (name: string) => sh`grub-install ${`/dev/${name}`}`,
};

export const power = {
  bootId: () => sh`cat /proc/sys/kernel/random/boot_id`,
  reboot: () => sh`reboot`,
  off: () => sh`poweroff`,
  command: (action: 'reboot' | 'poweroff') => (action === 'reboot' ? power.reboot() : power.off()),
};

export type { Command };
