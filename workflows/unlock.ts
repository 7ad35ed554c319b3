/**
 * The passphrase stages of a planned reboot: cryptroot-unlock in dropbear, then luksOpen of the network LUNs.
 * Every passphrase problem is an answer (people.passphraseFor): a wrong one fails its Update with the tries left,
 * an unusable one spends no try, a try lost with its worker is checked on the host before anyone types again.
 * Spent tries do not fail the run with the node drained and waiting: a person is asked to power-cycle the host and
 * retry, or to give up (the run ends as failed and says where the guests are and what the host needs).
 */
import { workflowInfo } from '@temporalio/workflow';
import type { LuksVolume } from '../activities/luks.js';
import type { Command } from '../common/commands.js';
import { failure } from '../common/failures.js';
import type { HypervisorRebootRequest } from '../common/inputs.js';
import type { Attempt, People } from './people.js';
import { passphraseTry, polling, readOnly } from './proxies.js';
import { summarized } from './runbook.js';
import { persist } from './steps.js';

export interface Unlocking {
  host: string;
  request: HypervisorRebootRequest;
  people: People;
  doneSoFar: () => string;
  /** The boot id before the reboot: OpenSSH in another boot means the system disk was opened. */
  bootIdBefore: string;
}

type Who = { by: string; tries: number };

/** cryptroot-unlock in dropbear until the system disk is open; `dropbearBootId` is the boot the host waits in. */
export async function unlockRootDisk(u: Unlocking, root: LuksVolume, command: Command, dropbearBootId: string): Promise<Who> {
  const { host, request, people } = u;
  const state = (notInBoot?: string) =>
    summarized(polling(request.pollInterval, request.upTimeout).rootUnlockState, `is ${host}'s system disk open? (OpenSSH in a new boot, or dropbear)`)(host, u.bootIdBefore, notInBoot);
  let stuckIn = dropbearBootId;
  for (;;) {
    const who = await people.passphraseFor(
      { what: `the passphrase of ${host}'s system disk (${root.name}), for cryptroot-unlock in dropbear`, who: 'an admin', tries: request.unlockTries, whenSpent: 'the admins are asked what to do' },
      {
        attempt: (passphrase) => summarized(passphraseTry.unlockRoot, `cryptroot-unlock on ${host} (dropbear)`)(host, command, passphrase),
        recheck: async (): Promise<Attempt> => {
          const now = await state();
          return now.state === 'open'
            ? { accepted: true, message: `${host}'s system disk is open: it answers on OpenSSH (boot id ${now.bootId})` }
            : { accepted: false, message: `${host} still waits in dropbear with its system disk locked` };
        },
      },
    );
    if (who) return who;
    const decision = await people.escalate({
      subject: `${host} is stuck in its initramfs: no passphrase tries left`,
      text: `Every cryptroot-unlock try on ${host} failed; it waits in its initramfs (dropbear) with ${root.name} locked, and takes no more tries in this boot.\n\n`
        + `Done so far: ${u.doneSoFar()}\n\n`
        + `retry: power-cycle ${host} first (its BMC or console; in the lab: npx runbook-lab power-cycle ${host}); the runbook waits for it in dropbear in a new boot and asks the passphrase again.\n`
        + `abort: give up; the guests stay where they run now, ${host} stays locked (unlock it at its console), and the run ends as failed with what was done.`,
      what: `${host} is stuck in its initramfs, no passphrase tries left: power-cycle it then retry, or abort (give up)`,
      who: 'an admin at the console',
      choices: ['retry', 'abort'],
    }, `cryptroot-unlock on ${host}`, `${request.unlockTries} passphrase tries spent`);
    if (decision.decision === 'abort') throw await gaveUp(u, `the system disk ${root.name} of ${host} stays locked in its initramfs (unlock it at its console)`, decision);
    // A new boot in dropbear (the power cycle), or the system already up (someone unlocked it at the console).
    const now = (await persist(people, { host, title: `wait for ${host} to boot again after its power cycle`, doneSoFar: u.doneSoFar }, () => state(stuckIn))) as Awaited<ReturnType<typeof state>>;
    if (now.state === 'open') return { by: `${decision.by} (at the console)`, tries: 0 };
    stuckIn = now.bootId;
  }
}

/** luksOpen of one network LUN; spent tries ask a person: try again (cryptsetup has no try limit), or give up. */
export async function openNetworkDisk(u: Unlocking, volume: LuksVolume, command: Command): Promise<Who> {
  const { host, request, people } = u;
  for (;;) {
    const who = await people.passphraseFor(
      { what: `the passphrase of the network LUN ${volume.name} on ${host} (${volume.device})`, who: 'an admin', tries: request.unlockTries, whenSpent: 'the admins are asked what to do' },
      {
        attempt: (passphrase) => summarized(passphraseTry.openVolume, `cryptsetup luksOpen ${volume.device} ${volume.name} on ${host}`)(host, volume, command, passphrase),
        recheck: async (): Promise<Attempt> => {
          const open = (await summarized(readOnly.listVolumes, `is ${volume.name} open on ${host}? (dmsetup)`)(host)).some((v) => v.name === volume.name && v.open);
          return open ? { accepted: true, message: `${volume.name} is open on ${host}` } : { accepted: false, message: `${volume.name} is still closed on ${host}` };
        },
      },
    );
    if (who) return who;
    const decision = await people.escalate({
      subject: `${host}: no passphrase opened the network LUN ${volume.name}`,
      text: `${request.unlockTries} passphrases for ${volume.name} (${volume.device}) on ${host} were wrong. ${host} runs, its system disk is open.\n\n`
        + `Done so far: ${u.doneSoFar()}\n\n`
        + `retry: ask for the passphrase again (${request.unlockTries} more tries).\n`
        + `abort: give up; the guests stay where they run now, ${volume.name} stays closed, and the run ends as failed with what was done.`,
      what: `no passphrase opened ${volume.name} on ${host}: retry (ask again) or abort (give up)`,
      choices: ['retry', 'abort'],
    }, `cryptsetup luksOpen ${volume.device} on ${host}`, `${request.unlockTries} passphrase tries spent`);
    if (decision.decision === 'abort') throw await gaveUp(u, `the network LUN ${volume.name} stays closed on ${host}`, decision);
  }
}

/**
 * A person gave up: nothing more is changed. The guests moved away run where they went; those shut down stay off
 * (their disks are on the locked storage). The admins get the whole picture, and the run fails with it.
 */
async function gaveUp(u: Unlocking, locked: string, decision: { by: string; comment?: string }) {
  const message = `${decision.by} gave up after the passphrase tries were spent${decision.comment ? `: ${decision.comment}` : ''}. `
    + `${locked}. The guests stay where they run now; those shut down on ${u.host} stay off. Done so far: ${u.doneSoFar()}`;
  await summarized(readOnly.mailAdmins, `mail the admins: ${u.host} given up locked`)({
    subject: `${u.host}: the planned reboot was given up, the host stays locked`,
    text: `${message}\n\nTo finish by hand: unlock ${u.host}, then start the guests shut down there and move the others back (qm migrate, pct migrate).`,
    runbook: workflowInfo().workflowType, workflowId: workflowInfo().workflowId,
  });
  return failure('PassphraseTriesSpent', message);
}
