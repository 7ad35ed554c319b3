/**
 * The LUKS capability, for any host kind: a LUKS root makes the host boot into a dropbear initramfs that waits for
 * cryptroot-unlock; the running system has cryptsetup, dmsetup, LVM activation and /etc/crypttab. A host whose
 * state has no `luks` behaves as if it had no encrypted volume (blkid finds none).
 */
import type { Capability, StatusHost } from '../../core/capability.js';
import { blkid, cryptrootUnlock, cryptsetup, crypttab, dmsetupLs, lvs, vgchange, vgs } from './commands.js';
import { luksBoot, luksPowerOff, rootVolume, type WithLuks } from './volumes.js';

export * from './volumes.js';

/** The status of a host's LUKS volumes, as `runbook-lab status` shows it. */
interface LuksStatus {
  unlockTries: number;
  maxUnlockTries: number;
  volumes: { name: string; root: boolean; open: boolean; vg: string | null; vgActive: boolean; keys: number }[];
}

export const luks: Capability<WithLuks> = {
  name: 'LUKS volumes',
  initramfs: {
    'cryptroot-unlock': (state, args, ctx) => cryptrootUnlock(state, args, ctx.stdin),
    '/usr/bin/cryptroot-unlock': (state, args, ctx) => cryptrootUnlock(state, args, ctx.stdin),
  },
  commands: {
    blkid: (state, args) => blkid(state, args),
    dmsetup: (state, args) => (state.luks && args.join(' ') === 'ls --target crypt' ? dmsetupLs(state.luks) : null),
    cryptsetup: (state, args, ctx) => (state.luks ? cryptsetup(state, state.luks, args, ctx.stdin) : null),
    vgchange: (state, args) => (state.luks ? vgchange(state.luks, args) : null),
    vgs: (state, args) => (state.luks ? vgs(state.luks, args) : null),
    lvs: (state, args) => (state.luks ? lvs(state.luks, args) : null),
  },
  files: {
    '/etc/crypttab': (state) => (state.luks ? crypttab(state.luks) : null),
  },
  boot(state) {
    // A preset whose root is already open describes a host the lab finds running (a Proxmox node in service): its
    // first boot keeps the volumes as they are. Otherwise every boot is a real one: all closed, tries from zero.
    if (!(state.bootCount === 0 && rootVolume(state)?.open === true)) luksBoot(state);
  },
  powerOff: luksPowerOff,
  waitsInInitramfs: (state) => rootVolume(state)?.open === false,
  usesDropbear: (state) => rootVolume(state) !== undefined,
  status(state): { luks?: LuksStatus } {
    if (!state.luks) return {};
    return {
      luks: {
        unlockTries: state.luks.unlockTries, maxUnlockTries: state.luks.maxUnlockTries,
        volumes: state.luks.volumes.map((v) => ({ name: v.name, root: v.root, open: v.open, vg: v.vg ?? null, vgActive: v.vgActive, keys: v.keySlots.filter((k) => k !== null).length })),
      },
    };
  },
  printStatus(host: StatusHost & { luks?: LuksStatus }) {
    if (!host.luks) return [];
    const lines = host.luks.volumes.map((v) =>
      `  luks ${v.name}${v.root ? ' (root)' : ''}: ${v.open ? 'open' : 'closed'}, ${v.keys} key(s)${v.vg ? `, vg ${v.vg} ${v.vgActive ? 'active' : 'inactive'}` : ''}`);
    if (host.power === 'dropbear') lines.push(`  cryptroot-unlock tries: ${host.luks.unlockTries}/${host.luks.maxUnlockTries}`);
    return lines;
  },
};
