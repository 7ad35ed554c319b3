/**
 * Restore a guest's volume, as "Snapshot d'une VM" says: from its snapshot (`lvconvert --merge`) or from a backup file
 * (`bunzip2 -c FILE | dd of=/dev/vg0/guest1_root bs=1M`), each a detached job (minutes to hours), the guest stopped ("VM stoppée"),
 * behind an approval: it overwrites the volume. The guest is started again and checked running.
 */
import { allHandlersFinished, condition } from '@temporalio/workflow';
import type { JobStatus } from '../activities/jobs.js';
import { lvm } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { VmRestoreInput, type ApprovalRecord } from '../common/inputs.js';
import { copies } from '../common/jobs.js';
import { plannedJob, runDetached, type DetachedJob } from './detached.js';
import { openRunbook } from './kit.js';
import { hostLease } from './leases.js';
import type { DecisionRecord } from './messages.js';
import { readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { outcomeText, planOf, type Skipped } from './steps.js';
import { guestsOfDom0, xenDom0 } from './xenGuests.js';

export interface VmRestoreResult {
  host: string;
  volume: string;
  from: string;
  approvedBy: ApprovalRecord[];
  restored: JobStatus | Skipped;
  guests: Record<string, unknown>[];
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = ['preflight: what to restore from', 'plan and approval', 'stop the guest', 'restore the volume', 'start the guest again'] as const;

export async function vmRestore(input: VmRestoreInput): Promise<VmRestoreResult> {
  const request = validInput(VmRestoreInput, input);
  const { host, guest, vg, volume } = request;
  const { runbook, people, approvals, leases, showPlan } = openRunbook('vmRestore', STEPS, { host, approvals: true, decisions: true });
  try {
    const done: string[] = [];
    const doneSoFar = () => [...guests.doneSoFar(), ...done].join('; ') || 'nothing changed';

    const inventoryGuests = await guestsOfDom0(host, guest, 'vmRestore');
    const guests = xenDom0(host, request, runbook, people, inventoryGuests, doneSoFar, [guest]);
    const from = request.from === 'snapshot' ? `snapshot ${vg}/${request.snapshot!}` : `file ${request.file!}`;

    const preflight = await runbook.step('preflight: what to restore from', async () => {
      const space = await summarized(readOnly.readVolumeSpace, `lvs on ${host}: ${vg}/${volume}`)(host, vg, volume);
      if (request.from === 'snapshot') {
        const snap = await summarized(readOnly.readSnapshot, `lvs on ${host}: ${vg}/${request.snapshot!} is a snapshot of ${volume}`)(host, vg, request.snapshot!);
        if (snap?.origin !== volume) throw failure('Refused', `${vg}/${request.snapshot!} on ${host} is not a snapshot of ${volume}${snap ? ` (it is of ${snap.origin})` : ''}; nothing was changed`);
      } else {
        const size = await summarized(readOnly.fileSize, `stat ${request.file!} on ${host}`)(host, request.file!);
        if (size === null) throw failure('Refused', `${request.file!} does not exist on ${host}; nothing was changed`);
      }
      return { volumeBytes: space.lvSizeBytes, facts: await guests.preflight() };
    });

    // Both take long (a merge copies back all that changed since the snapshot): detached jobs, re-attached after a
    // worker restart rather than run twice.
    const job: DetachedJob = request.from === 'snapshot' ? {
      host, step: 'merge', command: lvm.merge(vg, request.snapshot!), pollInterval: request.pollInterval,
      why: `${vg}/${volume} back to the snapshot's state, as a detached job; the snapshot is gone after`,
    } : {
      host, step: 'restore', command: copies.restore(request.file!, `/dev/${vg}/${volume}`), totalBytes: preflight.volumeBytes, pollInterval: request.pollInterval,
      why: `overwrite ${vg}/${volume} with the image in ${request.file!}, as a detached job`,
    };

    const approvedBy = await runbook.step('plan and approval', async () => {
      const plan = showPlan({
        summary: `Restore ${vg}/${volume} of ${guest} on ${host} from ${from}: its current content is lost`,
        steps: planOf([...guests.drainSteps, plannedJob(job), ...guests.restoreSteps]),
        facts: preflight.facts,
      });
      const rules = await summarized(readOnly.approvalPolicy, 'who approves vmRestore (the inventory\'s policy)')('vmRestore');
      return approvals.obtain({ what: `approve overwriting ${vg}/${volume} of ${guest} on ${host} with ${from}; see the "plan" query`, who: 'an admin', plan, rules, timeout: request.approvalTimeout });
    });

    await leases.take([hostLease(host)]);

    if (guests.drainSteps.length) await runbook.step('stop the guest', () => guests.drain());
    else runbook.skip('stop the guest', `${guest} does not run`);

    const restored = await runbook.step('restore the volume', () => runDetached(runbook, people, job, doneSoFar));
    done.push(`${vg}/${volume} restored from ${from} (${'phase' in restored ? restored.phase : outcomeText(restored)})`);

    const guestRecord = guests.restoreSteps.length ? await runbook.step('start the guest again', () => guests.restore()) : [];
    if (!guests.restoreSteps.length) runbook.skip('start the guest again', 'it was not running');

    await condition(allHandlersFinished);
    return { host, volume: `${vg}/${volume}`, from, approvedBy, restored, guests: guestRecord, decisions: runbook.decisions, timeline: runbook.timeline };
  } finally {
    await leases.giveBack();
  }
}
