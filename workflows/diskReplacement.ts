/**
 * Remplacement de disque physique: an mdadm RAID1 member disk, step by step as the wiki page does it
 * (xen-lvm-raid1-disk-replacement-vm-shutdown-order.txt, from "Dites 33" to "Grub").
 *
 * Safer than the page: disks are tracked by serial number, never by kernel name (the page warns that sda and
 * sdb can swap after the change); the new disk must be blank and large enough; the partition table is cloned
 * without the survivor's GUIDs; every change checks first whether it was already made.
 */
import { executeChild, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ArrayResync, Diagnosis, NewDisk, Outcome } from '../activities/raid/activities.js';
import { DiskReplacedAnswer, DiskReplacementInput } from '../common/inputs.js';
import { diskReplacedUpdate } from './messages.js';
import { rebootHost } from './rebootHost.js';
import { Runbook, summarized, validInput } from './runbook.js';

export interface DiskReplacementResult {
  host: string;
  failedDisk: Diagnosis['failed'];
  survivor: Diagnosis['survivor'];
  newDisk: NewDisk;
  swappedBy: DiskReplacedAnswer;
  /** What each host-changing step did: "done", or "already done" when a resumed run found it made. */
  changes: { step: string; array?: string; outcome: Outcome }[];
  arrays: { array: string; health: string }[];
  timeline: Runbook['timeline'];
}

const STEPS = [
  'Dites 33: find the failed disk',
  'Attention chérie, ça va couper: fail and remove its members',
  'swap the disk',
  'Le nouveau disque: identify it by serial',
  'clone the partition table',
  'add the new members',
  'wait for the resync',
  'Grub: install the bootloader',
  'check every array',
] as const;

// Heartbeats (sent with every SSH command) let a retry start within seconds when a worker dies mid-step.
const readOnly = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '15s',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: ['HostKeyMismatch', 'UnknownHost'] },
});
const hostChange = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '15s',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['HostKeyMismatch', 'UnknownHost'] },
});

export async function diskReplacement(input: DiskReplacementInput): Promise<DiskReplacementResult> {
  const request = validInput(DiskReplacementInput, input);
  const { host } = request;
  const runbook = new Runbook('diskReplacement', STEPS, host);
  const changes: DiskReplacementResult['changes'] = [];

  let swappedBy: DiskReplacedAnswer | undefined;
  setHandler(
    diskReplacedUpdate,
    (answer) => {
      swappedBy = answer;
      return `thanks ${answer.operator}: checking the new disk on ${host} by its serial number`;
    },
    {
      validator: (answer) => {
        if (runbook.waitingForUpdate !== diskReplacedUpdate.name) throw new Error('this runbook is not waiting for a disk swap now');
        validInput(DiskReplacedAnswer, answer);
      },
    },
  );

  await summarized(readOnly.lookUpHost, `look up ${host} in the inventory`)(host);

  const diagnosis = await runbook.step('Dites 33: find the failed disk', () =>
    summarized(readOnly.findFailedDisk, `Dites 33 on ${host}: /proc/mdstat, mdadm --detail, lsblk → the failed disk by serial`)(
      host,
      { arrays: request.arrays, failedDisk: request.failedDisk },
    ),
  );
  const { failed, survivor } = diagnosis;

  await runbook.step('Attention chérie, ça va couper: fail and remove its members', async () => {
    // "Si vous avez plusieurs md qui utilisent le disque défectueux, l'opération est à recommencer pour chaque partition."
    for (const member of diagnosis.failedMembers) {
      const which = `${member.array}'s partition ${member.partition} of disk ${failed.serial ?? '(gone)'}`;
      const failedOutcome = await summarized(hostChange.markMemberFailed, `mdadm --fail ${which}`)(host, member.array, failed.serial, member.partition);
      changes.push({ step: 'mdadm --fail', array: member.array, outcome: failedOutcome });
      const removedOutcome = await summarized(hostChange.removeMember, `mdadm --remove ${which}`)(host, member.array, failed.serial, member.partition);
      changes.push({ step: 'mdadm --remove', array: member.array, outcome: removedOutcome });
    }
  });

  await runbook.step('swap the disk', async () => {
    const which = failed.serial
      ? `the disk with serial ${failed.serial} (${failed.model ?? 'unknown model'}, ${failed.sizeBytes} bytes, seen as ${failed.seenAs})`
      : `the disk that is NOT serial ${survivor.serial} (the failed one is no longer visible)`;
    const keep = `keep the disk with serial ${survivor.serial}: it holds the only copy`;
    runbook.detail({ replace: which, keep, size: `a new blank disk of at least ${survivor.sizeBytes} bytes`, swap: request.swap });
    if (request.swap === 'cold') {
      // The host goes down for the swap; a person powers it on again once the new disk is in.
      await executeChild(rebootHost, {
        args: [{ host, action: 'poweroff', reason: `disk swap: replace ${which}`, upTimeout: request.bootTimeout }],
        workflowId: `${workflowInfo().workflowId}-poweroff`,
        staticSummary: `Power off ${host} for a cold disk swap, wait until a person powers it on`,
        staticDetails: `Replace ${which}.\n\n${keep}.`,
      });
    }
    const answered = await runbook.waitFor(
      { what: `replace ${which} on ${host}; ${keep}`, who: 'an operator at the machine', answerWith: diskReplacedUpdate.name },
      () => swappedBy !== undefined,
      '30 days',
    );
    if (!answered) throw new Error(`nobody confirmed the disk swap on ${host} within 30 days`);
  });

  const newDisk = await runbook.step('Le nouveau disque: identify it by serial', () =>
    summarized(readOnly.identifyNewDisk, `find the new disk on ${host} by serial (not ${survivor.serial}, blank, large enough)`)(
      host,
      survivor.serial,
      failed.serial,
    ),
  );

  await runbook.step('clone the partition table', async () => {
    const clone = summarized(hostChange.clonePartitionTable, `sfdisk: clone the partition table of ${survivor.serial} onto ${newDisk.serial}`);
    changes.push({ step: 'sfdisk (clone)', outcome: await clone(host, survivor.serial, newDisk.serial) });
  });

  await runbook.step('add the new members', async () => {
    for (const { array, partition } of diagnosis.layout) {
      const add = summarized(hostChange.addMember, `mdadm --add partition ${partition} of ${newDisk.serial} to ${array}`);
      changes.push({ step: 'mdadm --add', array, outcome: await add(host, array, newDisk.serial, partition) });
    }
  });

  await runbook.step('wait for the resync', async () => {
    // A durable loop: one look at /proc/mdstat, then a timer; hours of resync never block an activity.
    for (;;) {
      const resync: ArrayResync[] = await summarized(readOnly.readResync, `look at the resync in /proc/mdstat on ${host}`)(host);
      runbook.detail({ resync });
      if (resync.every((a) => !a.health.includes('_'))) return;
      await sleep(request.resyncPollInterval, { summary: `resync running: next look in ${request.resyncPollInterval}` });
    }
  });

  await runbook.step('Grub: install the bootloader', async () => {
    const grub = summarized(hostChange.installBootloader, `grub-install on the new disk ${newDisk.serial}`);
    changes.push({ step: 'grub-install', outcome: await grub(host, newDisk.serial) });
  });

  const arrays = await runbook.step('check every array', async () => {
    const health = await summarized(readOnly.checkArrays, `check every array on ${host} is [UU]`)(host);
    const bad = health.filter((a) => a.health.includes('_'));
    if (bad.length > 0) throw new Error(`arrays still degraded on ${host}: ${bad.map((a) => `${a.array} [${a.health}]`).join(', ')}`);
    return health;
  });

  return { host, failedDisk: failed, survivor, newDisk, swappedBy: swappedBy!, changes, arrays, timeline: runbook.timeline };
}
