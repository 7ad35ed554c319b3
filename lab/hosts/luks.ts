/**
 * LUKS volumes of a simulated host, shared by every host kind that has them (Proxmox nodes, encrypted dom0s):
 * the root volume that `cryptroot-unlock` opens in the initramfs (dropbear stage), and the network LUNs that
 * `cryptsetup luksOpen` opens once the system runs. Only hashes of passphrases are kept, so no lab file ever
 * holds a passphrase.
 */
import type { BaseHostState, CommandResult, ExecContext, NeedStdin } from './types.js';

export interface LuksVolume {
  uuid: string;
  /** Every block device that shows this LUKS header: the multipath paths of one LUN share it (/dev/sdb, /dev/sde, /dev/mapper/3600…). */
  paths: string[];
  /** The dm-crypt name from /etc/crypttab: `sda5_crypt`, `vg_fma_luks`. */
  name: string;
  /** The root volume is opened by cryptroot-unlock in the initramfs; the others by luksOpen after boot. */
  root: boolean;
  /** Key slots: salted hashes of the passphrases (null = empty slot). LUKS has 8 (LUKS1) or 32 (LUKS2). */
  keySlots: ({ salt: string; hash: string } | null)[];
  /** The volume group inside, activated by `vgchange -ay` once open. */
  vg?: string;
  open: boolean;
  vgActive: boolean;
}

export interface LuksState {
  volumes: LuksVolume[];
  /** cryptroot-unlock tries used in this boot; the initramfs gives up at maxUnlockTries. */
  unlockTries: number;
  maxUnlockTries: number;
}

/** A host state that may carry LUKS volumes. */
export interface WithLuks extends BaseHostState {
  luks?: LuksState;
}

/**
 * The LUKS commands, for any host kind: returns null when argv is not one of them, so the kind's own
 * interpreter goes on. Implemented in this module (see the lab's README section on LUKS).
 */
export function luksExec(_state: WithLuks, _argv: string[], _ctx: ExecContext): CommandResult | NeedStdin | null {
  return null;
}
