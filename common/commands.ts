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
