/**
 * LUKS on a hypervisor: cryptroot-unlock in dropbear, luksOpen of the network LUNs once the system runs, and the
 * page's key rotation. A passphrase is opened only inside `withPassphrase`, written on stdin (redacted everywhere
 * by the SSH layer) and dropped when the command ends. Every change checks first whether it is already made.
 */
import { Context } from '@temporalio/activity';
import { luks, power, type Command } from '../common/commands.js';
import type { SealedSecret } from '../common/sealed.js';
import { parseBlkid, parseCrypttab, parseDmsetupCrypt, parseLvsActive } from './parsers/luks.js';
import { withPassphrase } from './secrets.js';
import type { RemoteShell } from './ssh/remote.js';
import type { Outcome } from './raid/activities.js';
import { failure } from '../common/failures.js';

export interface LuksVolume {
  /** The dm-crypt name from /etc/crypttab. */
  name: string;
  uuid: string;
  /** The path to open: the multipath /dev/mapper path when there is one (the paths of one LUN share its UUID). */
  device: string;
  /** Opened at boot by the initramfs (crypttab option `initramfs`, or not `noauto`); the network LUNs are `noauto`. */
  root: boolean;
  open: boolean;
}

/** What one passphrase try did: the outcome the operator reads. */
export interface Attempt {
  accepted: boolean;
  message: string;
  exhausted?: boolean;
}

export function luksActivities(remote: RemoteShell) {
  /** Every crypttab volume whose LUKS device is present, each once, with whether it is open. */
  async function volumes(host: string): Promise<LuksVolume[]> {
    // blkid exits 2 when no device has a LUKS header: a host without LUKS (most Xen dom0s) has nothing more to read.
    const blkid = await remote.run(host, luks.devices(), { allowFailure: true });
    if (blkid.exitCode === 2 && !blkid.stdout.trim()) return [];
    const [crypttab, open] = await Promise.all([remote.run(host, luks.crypttab()), remote.run(host, luks.openVolumes())]);
    const devices = parseBlkid(blkid.stdout);
    const openNames = new Set(parseDmsetupCrypt(open.stdout));
    return parseCrypttab(crypttab.stdout).flatMap((entry) => {
      const paths = devices.filter((d) => d.uuid === entry.uuid).map((d) => d.path);
      if (!paths.length) return [];
      const device = paths.find((p) => p.startsWith('/dev/mapper/')) ?? paths[0]!;
      return [{ name: entry.name, uuid: entry.uuid, device, root: entry.options.includes('initramfs') || !entry.options.includes('noauto'), open: openNames.has(entry.name) }];
    });
  }

  async function opens(host: string, device: string, passphrase: Buffer): Promise<boolean> {
    const result = await remote.run(host, luks.testPassphrase(device), { stdin: passphrase, allowFailure: true });
    if (result.exitCode === 0) return true;
    if (result.exitCode === 2) return false; // "No key available with this passphrase."
    throw failure('CommandFailed', `${host}: cryptsetup --test-passphrase on ${device} exited ${result.exitCode}: ${result.stderr.trim()}`);
  }

  return {
    listVolumes: (host: string): Promise<LuksVolume[]> => volumes(host),

    /** The network LUNs still closed after the boot, each distinct UUID once. */
    async findLockedVolumes(host: string): Promise<LuksVolume[]> {
      return (await volumes(host)).filter((v) => !v.root && !v.open);
    },

    /** cryptroot-unlock in the initramfs, the passphrase on stdin without a newline. Never retried by Temporal. */
    async unlockRoot(host: string, command: Command, sealed: SealedSecret): Promise<Attempt> {
      // A try whose answer was lost: the host may already have left dropbear for OpenSSH.
      const probe = await remote.probe(host, 'dropbear');
      if (probe !== 'up') {
        if (typeof probe === 'object' && probe.stage === 'openssh') return { accepted: true, message: `${host}'s system disk is already unlocked: it answers on OpenSSH` };
        throw failure('NotBack', `${host} does not answer in dropbear`);
      }
      const result = await withPassphrase(sealed, (passphrase) => remote.run(host, command, { stage: 'dropbear', stdin: passphrase, allowFailure: true }));
      // An unlock whose answer was lost, asked again while the initramfs hands over to the system: not a wrong try.
      if (result.exitCode === 0 || /already unlocked/i.test(result.stderr + result.stdout)) return { accepted: true, message: `${host}: ${result.stdout.trim() || 'system disk unlocked'}` };
      const exhausted = /maximum number of tries/i.test(result.stderr + result.stdout);
      return { accepted: false, exhausted, message: exhausted ? `wrong passphrase, and ${host}'s initramfs takes no more tries` : 'wrong passphrase' };
    },

    /**
     * Is the system disk open? One probe, retried by the polling policy while the host answers in neither stage
     * (booting). open: OpenSSH answers in a boot other than `bootIdBefore` (the one before the reboot: the
     * initramfs and the system it unlocks share a boot id). locked: dropbear answers, in a boot other than
     * `notInBoot` when given (a stuck initramfs waits for a power cycle).
     */
    async rootUnlockState(host: string, bootIdBefore: string, notInBoot?: string): Promise<{ state: 'open' | 'locked'; bootId: string }> {
      if ((await remote.probe(host, 'openssh')) === 'up') {
        const bootId = (await remote.run(host, power.bootId())).stdout.trim();
        if (bootId !== bootIdBefore) return { state: 'open', bootId };
      }
      Context.current().heartbeat();
      if ((await remote.probe(host, 'dropbear')) === 'up') {
        const bootId = (await remote.run(host, power.bootId(), { stage: 'dropbear' })).stdout.trim();
        if (bootId !== notInBoot) return { state: 'locked', bootId };
        throw failure('NotBack', `${host} still waits in the initramfs that gave up (boot id ${bootId}): power-cycle it`);
      }
      throw failure('NotBack', `${host} answers neither in dropbear nor on OpenSSH yet`);
    },

    /** cryptsetup luksOpen of one network LUN, unless it is open already. */
    async openVolume(host: string, volume: Pick<LuksVolume, 'name' | 'device'>, command: Command, sealed: SealedSecret): Promise<Attempt> {
      const open = parseDmsetupCrypt((await remote.run(host, luks.openVolumes())).stdout);
      if (open.includes(volume.name)) return { accepted: true, message: `${volume.name} is already open` };
      const result = await withPassphrase(sealed, (passphrase) => remote.run(host, command, { stdin: passphrase, allowFailure: true }));
      if (result.exitCode === 0) return { accepted: true, message: `${volume.name} opened on ${host}` };
      if (result.exitCode === 2) return { accepted: false, message: `wrong passphrase for ${volume.name}` };
      if (result.exitCode === 5) return { accepted: true, message: `${volume.name} is already open` };
      throw failure('CommandFailed', `${host}: cryptsetup luksOpen ${volume.device} exited ${result.exitCode}: ${result.stderr.trim()}`);
    },

    /** `vgchange -ay`, unless every logical volume is active already (a retried step: the change is made). */
    async activateVolumeGroups(host: string, command: Command): Promise<string> {
      const volumes = parseLvsActive((await remote.run(host, luks.logicalVolumes())).stdout);
      if (volumes.length && volumes.every((v) => v.active)) return `already done: every logical volume is active (${[...new Set(volumes.map((v) => v.vg))].join(', ')})`;
      return (await remote.run(host, command)).stdout.trim();
    },

    /** `cryptsetup luksOpen --test-passphrase`: does this passphrase open the device? Changes nothing. */
    async testPassphrase(host: string, device: string, sealed: SealedSecret): Promise<boolean> {
      return withPassphrase(sealed, (passphrase) => opens(host, device, passphrase));
    },

    /** On the worker only: the new passphrase is usable and differs from the old one. */
    async checkNewPassphrase(fresh: SealedSecret, old: SealedSecret): Promise<Attempt> {
      return withPassphrase(fresh, (n) => withPassphrase(old, async (o) => {
        if (n.length < 12) return { accepted: false, message: 'the new passphrase is shorter than 12 characters' };
        if (n.equals(o)) return { accepted: false, message: 'the new passphrase is the current one' };
        return { accepted: true, message: 'new passphrase accepted' };
      }));
    },

    /** luksAddKey (old, newline, new, newline on stdin), unless the new passphrase already opens the device. */
    async addKey(host: string, device: string, command: Command, old: SealedSecret, fresh: SealedSecret): Promise<Outcome> {
      return withPassphrase(old, (o) => withPassphrase(fresh, async (n) => {
        if (await opens(host, device, n)) return 'already done';
        const stdin = Buffer.concat([o, Buffer.from('\n'), n, Buffer.from('\n')]);
        try {
          await remote.run(host, command, { stdin, secrets: [o, n] });
        } finally {
          stdin.fill(0);
        }
        return 'done';
      }));
    },

    /** luksRemoveKey of the old passphrase, only while the new one opens the device; done if the old one no longer does. */
    async removeKey(host: string, device: string, command: Command, old: SealedSecret, fresh: SealedSecret): Promise<Outcome> {
      return withPassphrase(old, (o) => withPassphrase(fresh, async (n) => {
        if (!(await opens(host, device, n))) {
          throw failure('NewKeyFailed', `the new passphrase does not open ${device} on ${host}: the old key is NOT removed`);
        }
        if (!(await opens(host, device, o))) return 'already done';
        await remote.run(host, command, { stdin: o });
        return 'done';
      }));
    },
  };
}

export type LuksActivities = ReturnType<typeof luksActivities>;
