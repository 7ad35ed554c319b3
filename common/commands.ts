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

export const power = {
  reboot: () => sh`reboot`,
};

export type { Command };
