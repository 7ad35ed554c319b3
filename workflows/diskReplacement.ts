/**
 * Remplacement de disque physique: an mdadm RAID1 member disk, step by step as the wiki page does it
 * (xen-lvm-raid1-disk-replacement-vm-shutdown-order.txt, from "Dites 33" to "Grub").
 *
 * Safer than the page: disks are tracked by serial number, never by kernel name (the page warns that sda and
 * sdb can swap after the change); the new disk must be blank and large enough; the partition table is cloned
 * without the survivor's GUIDs; every change checks first whether it was already made.
 */
import { msToNumber } from '@temporalio/common/lib/time.js';
import { allHandlersFinished, condition, executeChild, sleep, workflowInfo } from '@temporalio/workflow';
import type { ArrayMember, ArrayResync, Diagnosis, NewDisk, Outcome } from '../activities/raid/activities.js';
import { disks, partitionOf, raid } from '../common/commands.js';
import { failure, failureType, type FailureType } from '../common/failures.js';
import { DiskReplacedAnswer, DiskReplacementInput } from '../common/inputs.js';
import { openRunbook } from './kit.js';
import { diskReplacedUpdate, type DecisionRecord } from './messages.js';
import { refused } from './people.js';
import { hostChange, readOnly } from './proxies.js';
import { rebootHost } from './rebootHost.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { hostLease } from './leases.js';
import { outcomeText, persist, planOf, reasonOf, runStep, type HostStep, type Skipped } from './steps.js';

export interface DiskReplacementResult {
  host: string;
  failedDisk: Diagnosis['failed'];
  survivor: Diagnosis['survivor'];
  newDisk: NewDisk;
  swappedBy: DiskReplacedAnswer;
  /** What each host-changing step did: "done", "already done" when a resumed run found it made, or skipped by a person. */
  changes: { step: string; array?: string; outcome: Outcome | Skipped }[];
  arrays: { array: string; health: string }[];
  decisions: DecisionRecord[];
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

/** How long an operator has to swap the disk before the runbook stops waiting (and tells the admins). */
const SWAP_TIMEOUT = '30 days';

/** What an operator fixes at the machine (an answer given too early, the wrong disk put in): told, then asked again. */
const NOT_SWAPPED_YET: FailureType[] = ['FailedDiskStillThere', 'NewDiskUnclear', 'NewDiskTooSmall', 'NewDiskNotBlank'];

type ChangeStep = HostStep<Outcome> & { label: string; array?: string };

export async function diskReplacement(input: DiskReplacementInput): Promise<DiskReplacementResult> {
  const request = validInput(DiskReplacementInput, input);
  const { host } = request;
  // What people answer in this runbook: decisions when a step cannot go on, and the disk swap.
  const { runbook, people, leases, showPlan } = openRunbook('diskReplacement', STEPS, { host, decisions: true });
  people.accepts(diskReplacedUpdate, DiskReplacedAnswer);
  try {
    const changes: DiskReplacementResult['changes'] = [];
    const doneSoFar = () => changes.map((c) => `${c.step}${c.array ? ` ${c.array}` : ''}: ${outcomeText(c.outcome)}`).join('; ') || 'nothing changed';

    /** Run planned steps in order, each recorded; a step that cannot be done asks a person. */
    async function run(steps: ChangeStep[]): Promise<void> {
      for (const step of steps) {
        changes.push({ step: step.label, array: step.array, outcome: await runStep(people, step, doneSoFar) });
      }
    }
    const showSteps = (steps: ChangeStep[]) =>
      showPlan({ summary: `Disk replacement on ${host}: the commands that change it, in order (the later ones once the new disk is known)`, steps: planOf(steps) });

    await summarized(readOnly.lookUpHost, `look up ${host} in the inventory`)(host);
    // Before the diagnosis, not only before the first change: the diagnosis is the plan (there is no approval step),
    // and another runbook changing the arrays meanwhile would make it stale.
    await leases.take([hostLease(host)]);

    const diagnosis = await runbook.step('Dites 33: find the failed disk', () =>
      summarized(readOnly.findFailedDisk, `Dites 33 on ${host}: /proc/mdstat, mdadm --detail, lsblk → the failed disk by serial`)(
        host,
        { arrays: request.arrays, failedDisk: request.failedDisk },
      ),
    );
    const { failed, survivor } = diagnosis;

    // "Si vous avez plusieurs md qui utilisent le disque défectueux, l'opération est à recommencer pour chaque partition."
    // --fail only where mdadm still sees the member active; --remove wherever it is still in the array.
    const removal: ChangeStep[] = failed.seenAs === null ? [] : diagnosis.failedMembers.filter((m) => m.state !== 'gone').flatMap((m) => {
      const member: ArrayMember = { array: m.array, serial: failed.serial, partition: m.partition, device: partitionOf(failed.seenAs!, m.partition) };
      const which = `${m.array}'s partition ${m.partition} of disk ${failed.serial ?? '(gone)'}`;
      return [
        ...(m.state === 'active' ? [{
          label: 'mdadm --fail', array: m.array, host, stage: 'openssh' as const, command: raid.fail(m.array, member.device),
          why: `mark ${which} faulty: mdadm still sees it active`,
          run: (command) => summarized(hostChange.markMemberFailed, `mdadm --fail ${which}`)(host, member, command),
        } satisfies ChangeStep] : []),
        {
          label: 'mdadm --remove', array: m.array, host, stage: 'openssh' as const, command: raid.remove(m.array, member.device),
          why: `take ${which} out of the array`,
          run: (command) => summarized(hostChange.removeMember, `mdadm --remove ${which}`)(host, member, command),
        } satisfies ChangeStep,
      ];
    });
    showSteps(removal);

    await runbook.step('Attention chérie, ça va couper: fail and remove its members', () => run(removal));

    const swap = await runbook.step('swap the disk', async () => {
      const which = failed.serial
        ? `the disk with serial ${failed.serial} (${failed.model ?? 'unknown model'}, ${failed.sizeBytes} bytes, seen as ${failed.seenAs})`
        : `the disk that is NOT serial ${survivor.serial} (the failed one is no longer visible)`;
      const keep = `keep the disk with serial ${survivor.serial}: it holds the only copy`;
      runbook.detail({ replace: which, keep, size: `a new blank disk of at least ${survivor.sizeBytes} bytes`, swap: request.swap });
      if (request.swap === 'cold') {
        // The host goes down for the swap; a person powers it on again once the new disk is in.
        await executeChild(rebootHost, {
          args: [{ host, action: 'poweroff', reason: `disk swap: replace ${which}`, upTimeout: request.bootTimeout, leases: leases.forChild() }],
          workflowId: `${workflowInfo().workflowId}-poweroff`,
          staticSummary: `Power off ${host} for a cold disk swap, wait until a person powers it on`,
          staticDetails: `Replace ${which}.\n\n${keep}.`,
        });
      }
      // The page warns that sda and sdb can swap: the new disk is found by serial, after the swap (and any reboot),
      // as soon as the operator says it is in; an answer given too early is told why and the runbook waits again.
      const identify = () => summarized(readOnly.identifyNewDisk, `find the new disk on ${host} by serial (not ${survivor.serial}, blank, large enough)`)(host, survivor.serial, failed.serial);
      const deadline = Date.now() + msToNumber(SWAP_TIMEOUT);
      for (;;) {
        let found: NewDisk | undefined;
        let problem: unknown;
        const answered = await people.ask(
          diskReplacedUpdate,
          { what: `replace ${which} on ${host}; ${keep}`, who: 'an operator at the machine', timeout: Math.max(deadline - Date.now(), 1) },
          async (answer) => {
            try {
              found = await identify();
              return `thanks ${answer.by}: the new disk on ${host} is serial ${found.serial} (seen as ${found.seenAs}); its arrays are rebuilt on it now`;
            } catch (error) {
              if (NOT_SWAPPED_YET.includes(failureType(error)!)) return refused(`not yet: ${reasonOf(error)}. Once that is done, answer diskReplaced again`);
              problem = error;
              return `the new disk on ${host} could not be checked (${reasonOf(error)}): the admins are asked`;
            }
          },
        );
        if (!answered) {
          const message = `nobody confirmed the disk swap on ${host} within ${SWAP_TIMEOUT}; its arrays run on one disk (serial ${survivor.serial}). Done so far: ${doneSoFar()}`;
          await summarized(readOnly.mailAdmins, `mail the admins: the disk swap on ${host} was never confirmed`)({
            subject: `${host}: the disk swap was never confirmed`, text: message, runbook: 'diskReplacement', workflowId: workflowInfo().workflowId,
          });
          throw failure('NotSwapped', message);
        }
        if (found) return { swappedBy: answered.answer, newDisk: found };
        if (problem) return { swappedBy: answered.answer, newDisk: (await persist(people, { host, title: 'identify the new disk by serial', doneSoFar }, identify)) as NewDisk };
        runbook.detail({ replace: which, keep, earlyAnswer: `${answered.answer.by} said the disk was swapped, but: ${answered.refused?.message}` });
      }
    });
    const { swappedBy } = swap;

    const newDisk = await runbook.step('Le nouveau disque: identify it by serial', async () => {
      // Identified when the operator answered (the Update's reply named it): recorded here, in the page's order.
      runbook.detail({ newDisk: swap.newDisk });
      return swap.newDisk;
    });

    const fresh = { serial: newDisk.serial, name: newDisk.seenAs };
    const clone: ChangeStep = {
      label: 'sfdisk (clone)', host, stage: 'openssh', command: disks.writeTable(fresh.name),
      why: `the partition table of ${survivor.serial} (read with sfdisk --dump, without its GUIDs) onto the new disk ${fresh.serial}`,
      run: (command) => summarized(hostChange.clonePartitionTable, `sfdisk: clone the partition table of ${survivor.serial} onto ${fresh.serial}`)(
        host, { survivorSerial: survivor.serial, newSerial: fresh.serial, newName: fresh.name }, command),
    };
    const additions: ChangeStep[] = diagnosis.layout.map(({ array, partition }) => {
      const member = { array, serial: fresh.serial, partition, device: partitionOf(fresh.name, partition) };
      return {
        label: 'mdadm --add', array, host, stage: 'openssh', command: raid.add(array, member.device),
        why: `partition ${partition} of the new disk ${fresh.serial} rejoins ${array}`,
        run: (command) => summarized(hostChange.addMember, `mdadm --add partition ${partition} of ${fresh.serial} to ${array}`)(host, member, command),
      };
    });
    const grub: ChangeStep = {
      label: 'grub-install', host, stage: 'openssh', command: disks.installBootloader(fresh.name),
      why: `the new disk ${fresh.serial} can boot the host too`,
      run: (command) => summarized(hostChange.installBootloader, `grub-install on the new disk ${fresh.serial}`)(host, fresh, command),
    };
    showSteps([...removal, clone, ...additions, grub]);

    await runbook.step('clone the partition table', () => run([clone]));

    await runbook.step('add the new members', () => run(additions));

    await runbook.step('wait for the resync', async () => {
      // A durable loop: one look at /proc/mdstat, then a timer; hours of resync never block an activity.
      for (;;) {
        const resync: ArrayResync[] = await summarized(readOnly.readResync, `look at the resync in /proc/mdstat on ${host}`)(host);
        runbook.detail({ resync });
        if (resync.every((a) => !a.health.includes('_'))) return;
        await sleep(request.resyncPollInterval, { summary: `resync running: next look in ${request.resyncPollInterval}` });
      }
    });

    await runbook.step('Grub: install the bootloader', () => run([grub]));

    const arrays = await runbook.step('check every array', async () => {
      const health = await summarized(readOnly.checkArrays, `check every array on ${host} is [UU]`)(host);
      const bad = health.filter((a) => a.health.includes('_'));
      if (bad.length > 0) {
        const message = `arrays still degraded on ${host}: ${bad.map((a) => `${a.array} [${a.health}]`).join(', ')}. Done so far: ${doneSoFar()}`;
        await summarized(readOnly.mailAdmins, `mail the admins: arrays still degraded on ${host}`)({
          subject: `${host}: arrays still degraded after the disk replacement`, text: message, runbook: 'diskReplacement', workflowId: workflowInfo().workflowId,
        });
        throw failure('ArraysDegraded', message);
      }
      return health;
    });

    await condition(allHandlersFinished);
    return { host, failedDisk: failed, survivor, newDisk, swappedBy, changes, arrays, decisions: runbook.decisions, timeline: runbook.timeline };
  } finally {
    // However the run ends (done, failed, aborted, cancelled): the next runbook on these hosts may go on at once.
    await leases.giveBack();
  }
}
