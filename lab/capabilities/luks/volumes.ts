/**
 * LUKS volumes of a simulated host (Proxmox nodes, encrypted dom0s): the root volume that `cryptroot-unlock` opens
 * in the initramfs (dropbear stage), and the network LUNs that `cryptsetup luksOpen` opens once the system runs.
 * Only salted hashes of passphrases are kept, so no lab file (state, audit, logs) ever holds a passphrase.
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import type { BaseHostState } from '../../core/types.js';

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
  /** Logical volumes in `vg` (for vgchange's and vgs's counts); 1 when absent. */
  lvCount?: number;
  /** blkid's PARTUUID, for a volume on a partition (the root's /dev/sda5). */
  partuuid?: string;
  open: boolean;
  /** The path it was opened from, for `cryptsetup status`. */
  openedFrom?: string;
  vgActive: boolean;
}

export interface LuksState {
  volumes: LuksVolume[];
  /** cryptroot-unlock tries used in this boot; the initramfs gives up at maxUnlockTries. */
  unlockTries: number;
  maxUnlockTries: number;
  /** From a successful cryptroot-unlock to OpenSSH answering (the rest of the boot); 300 ms when absent. */
  unlockBootDelayMs?: number;
}

/** A host state that may carry LUKS volumes. */
export interface WithLuks extends BaseHostState {
  luks?: LuksState;
}

// ---------------------------------------------------------------- keys

// Cheap scrypt: the point is that no lab file holds a passphrase, not to resist offline cracking.
const SCRYPT = { N: 1024, r: 8, p: 1 } as const;

function hashKey(passphrase: Buffer, salt: Buffer): Buffer {
  return scryptSync(passphrase, salt, 32, SCRYPT);
}

export function sealKey(passphrase: Buffer): { salt: string; hash: string } {
  const salt = randomBytes(16);
  return { salt: salt.toString('base64'), hash: hashKey(passphrase, salt).toString('base64') };
}

/** The index of the first key slot the passphrase opens, or -1. The passphrase is every byte given. */
export function matchingSlot(volume: LuksVolume, passphrase: Buffer | string): number {
  const key = typeof passphrase === 'string' ? Buffer.from(passphrase) : passphrase;
  return volume.keySlots.findIndex((slot) => slot !== null
    && timingSafeEqual(hashKey(key, Buffer.from(slot.salt, 'base64')), Buffer.from(slot.hash, 'base64')));
}

/** A LUKS volume for presets and tests; passphrases fill the first slots of 8 (LUKS1). Closed, as at boot. */
export function luksVolume(o: { uuid: string; paths: string[]; name: string; root?: boolean; vg?: string; lvCount?: number; partuuid?: string; passphrases: string[]; slots?: number }): LuksVolume {
  const slots = o.slots ?? 8;
  if (o.passphrases.length === 0 || o.passphrases.length > slots) throw new Error(`a LUKS volume needs 1..${slots} passphrases`);
  if (o.paths.length === 0) throw new Error('a LUKS volume needs at least one path');
  const root = o.root ?? false;
  const partuuid = o.partuuid ?? (root ? derivedPartuuid(o.uuid, o.paths[0]!) : undefined);
  return {
    uuid: o.uuid,
    paths: [...o.paths],
    name: o.name,
    root,
    keySlots: Array.from({ length: slots }, (_, i) => (o.passphrases[i] === undefined ? null : sealKey(Buffer.from(o.passphrases[i]!)))),
    ...(o.vg ? { vg: o.vg } : {}),
    ...(o.lvCount !== undefined ? { lvCount: o.lvCount } : {}),
    ...(partuuid ? { partuuid } : {}),
    open: false,
    vgActive: false,
  };
}

/** An MBR disk id plus the partition number, as blkid prints it: `46a561e0-05`. */
function derivedPartuuid(uuid: string, path: string): string | undefined {
  const part = /(\d+)$/.exec(path)?.[1];
  if (!part) return undefined;
  return `${createHash('sha256').update(uuid).digest('hex').slice(0, 8)}-${part.padStart(2, '0')}`;
}

export function luksState(volumes: LuksVolume[], opts: { maxUnlockTries?: number; unlockBootDelayMs?: number } = {}): LuksState {
  if (volumes.filter((v) => v.root).length > 1) throw new Error('at most one root LUKS volume');
  return { volumes, unlockTries: 0, maxUnlockTries: opts.maxUnlockTries ?? 3, ...(opts.unlockBootDelayMs !== undefined ? { unlockBootDelayMs: opts.unlockBootDelayMs } : {}) };
}

export function rootVolume(state: WithLuks): LuksVolume | undefined {
  return state.luks?.volumes.find((v) => v.root);
}

// ---------------------------------------------------------------- boot

/** Power off or reset: every mapping is gone. */
export function luksPowerOff(state: WithLuks): void {
  for (const v of state.luks?.volumes ?? []) { v.open = false; v.vgActive = false; delete v.openedFrom; }
}

/** A new boot: everything is closed, the initramfs counts its tries from zero. */
export function luksBoot(state: WithLuks): void {
  luksPowerOff(state);
  if (state.luks) state.luks.unlockTries = 0;
}
