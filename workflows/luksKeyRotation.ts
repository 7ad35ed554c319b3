/**
 * Gestion clés LUKS hyperviseurs, "Rotation de clé" (proxmox-faimaison-vm-creation-and-planned-reboot.txt):
 *
 *   cryptsetup luksAddKey /dev/sda5                                    (old passphrase, then the new one)
 *   cryptsetup luksOpen --test-passphrase /dev/sda5 && echo "Passphrase OK"
 *   cryptsetup luksRemoveKey /dev/sda5                                 (the old one)
 *
 * Safer than the page: both passphrases are sealed; the old one is checked before anything changes; the old key is
 * removed only once the new one opened the volume, and the removal itself checks that again, so no retry or crash
 * can leave the host without a working key.
 */
import { allHandlersFinished, condition } from '@temporalio/workflow';
import type { Outcome } from '../activities/raid/activities.js';
import { luks } from '../common/commands.js';
import { LuksKeyRotationInput } from '../common/inputs.js';
import type { SealedSecret } from '../common/sealed.js';
import { openRunbook } from './kit.js';
import type { DecisionRecord } from './messages.js';
import { hostChange, passphraseTry, readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { hostLease } from './leases.js';
import { outcomeText, planOf, runStep, type HostStep } from './steps.js';
import { failure } from '../common/failures.js';

export interface LuksKeyRotationResult {
  host: string;
  device: string;
  oldPassphraseFrom: string;
  newPassphraseFrom: string;
  added: string;
  tested: 'Passphrase OK';
  removed: string;
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = [
  'find the volume',
  'the current passphrase',
  'the new passphrase',
  'luksAddKey: add the new passphrase',
  'test the new passphrase',
  'luksRemoveKey: remove the old passphrase',
] as const;

export async function luksKeyRotation(input: LuksKeyRotationInput): Promise<LuksKeyRotationResult> {
  const request = validInput(LuksKeyRotationInput, input);
  const { host } = request;
  // What people answer in this runbook: passphrases, and decisions when a key change cannot be made.
  const { runbook, people, leases, showPlan } = openRunbook('luksKeyRotation', STEPS, { host, decisions: true, passphrases: true });
  await summarized(readOnly.lookUpHost, `look up ${host} in the inventory`)(host);
  try {
    // Before the passphrases are asked: nobody types one and then waits for another runbook.
    await leases.take([hostLease(host)]);

    const device = await runbook.step('find the volume', async () => {
      if (request.device) return request.device;
      const volumes = await summarized(readOnly.listVolumes, `read the LUKS volumes of ${host}`)(host);
      const root = volumes.find((v) => v.root);
      if (!root) throw failure('InvalidInput', `${host} has no LUKS root volume in /etc/crypttab: name the device`);
      return root.device;
    });

    // The sealed values stay in workflow memory (and, sealed and encrypted, in the Updates' history) only.
    let oldPassphrase: SealedSecret | undefined;
    const current = await runbook.step('the current passphrase', () => people.passphraseFor(
      { what: `the CURRENT passphrase of ${device} on ${host}`, who: 'an admin', tries: 3, whenSpent: 'the runbook stops, nothing was changed' },
      { attempt: async (sealed) => {
        const accepted = await summarized(passphraseTry.testPassphrase, `cryptsetup luksOpen --test-passphrase ${device} (current)`)(host, device, sealed);
        if (accepted) oldPassphrase = sealed;
        return { accepted, message: accepted ? 'the current passphrase opens the volume' : `that passphrase does not open ${device}` };
      } },
    ).then((who) => who ?? spent(`the current passphrase of ${device} on ${host}`)));

    let newPassphrase: SealedSecret | undefined;
    const fresh = await runbook.step('the new passphrase', () => people.passphraseFor(
      { what: `the NEW passphrase for ${device} on ${host}`, who: 'an admin', tries: 3, whenSpent: 'the runbook stops, nothing was changed' },
      { attempt: async (sealed) => {
        const verdict = await summarized(passphraseTry.checkNewPassphrase, 'check the new passphrase on the worker')(sealed, oldPassphrase!);
        if (verdict.accepted) newPassphrase = sealed;
        return verdict;
      } },
    ).then((who) => who ?? spent(`the new passphrase for ${device} on ${host}`)));

    // The two changes, built once: the plan shows them, the steps run them.
    const addKey: HostStep<Outcome> = {
      host, stage: 'openssh', command: luks.addKey(device), why: 'the current passphrase, then the new one, on stdin; skipped when the new one already opens the volume',
      run: (command) => summarized(hostChange.addKey, `cryptsetup luksAddKey ${device}`)(host, device, command, oldPassphrase!, newPassphrase!),
    };
    const removeKey: HostStep<Outcome> = {
      host, stage: 'openssh', command: luks.removeKey(device), why: 'the old passphrase on stdin; only while the new one opens the volume',
      run: (command) => summarized(hostChange.removeKey, `cryptsetup luksRemoveKey ${device} (the old passphrase)`)(host, device, command, oldPassphrase!, newPassphrase!),
    };
    showPlan({ summary: `Key rotation of ${device} on ${host}: ${request.reason}`, steps: planOf([addKey, removeKey]) });
    const changes: string[] = [];
    const doneSoFar = () => changes.join('; ') || 'nothing changed';

    const added = await runbook.step('luksAddKey: add the new passphrase', () => runStep(people, addKey, doneSoFar));
    changes.push(`luksAddKey: ${outcomeText(added)}`);

    await runbook.step('test the new passphrase', async () => {
      const opens = await summarized(readOnly.testPassphrase, `cryptsetup luksOpen --test-passphrase ${device} (new)`)(host, device, newPassphrase!);
      if (!opens) throw failure('NewKeyFailed', `the new passphrase does not open ${device} on ${host}: the old key is kept`);
    });

    const removed = await runbook.step('luksRemoveKey: remove the old passphrase', () => runStep(people, removeKey, doneSoFar));

    oldPassphrase = newPassphrase = undefined;
    await condition(allHandlersFinished);
    return {
      host, device, oldPassphraseFrom: current.by, newPassphraseFrom: fresh.by,
      added: outcomeText(added), tested: 'Passphrase OK', removed: outcomeText(removed), decisions: runbook.decisions, timeline: runbook.timeline,
    };
  } finally {
    // However the run ends (done, failed, aborted, cancelled): the next runbook on these hosts may go on at once.
    await leases.giveBack();
  }
}

/** Both passphrases are asked before anything changes: spent tries end the run with nothing changed. */
function spent(what: string): never {
  throw failure('PassphraseTriesSpent', `${what}: no tries left; nothing was changed`);
}
