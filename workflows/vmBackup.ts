/**
 * "Snapshot d'une VM", the backup to a file: `dd if=/dev/vg0/guest1_root_snap1 bs=1M | bzip2 -9 > FILE` on the dom0,
 * hours for a large volume, run as a detached job (workflows/detached.ts) that outlives worker restarts without
 * ever running twice; then, if asked, the snapshot removed. Safer than the page: only a snapshot is copied (a running
 * guest's own volume changes under dd), a file never overwritten, bash's pipefail so a failed dd is not a success.
 */
import { allHandlersFinished, condition } from '@temporalio/workflow';
import type { JobStatus } from '../activities/jobs.js';
import type { Outcome } from '../activities/raid/activities.js';
import { lvm } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { VmBackupInput, type ApprovalRecord } from '../common/inputs.js';
import { copies } from '../common/jobs.js';
import { plannedJob, runDetached, type DetachedJob } from './detached.js';
import { openRunbook } from './kit.js';
import { hostLease } from './leases.js';
import type { DecisionRecord } from './messages.js';
import { hostChange, readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { outcomeText, planOf, runStep, type HostStep, type Skipped } from './steps.js';

export interface VmBackupResult {
  host: string;
  snapshot: string;
  file: string;
  approvedBy: ApprovalRecord[];
  job: JobStatus | Skipped;
  /** The compressed file's size once written. */
  fileBytes: number | null;
  snapshotRemoved?: Outcome | Skipped;
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = ['preflight: the snapshot and the file', 'plan and approval', 'dd | bzip2 to the file', 'lvremove the snapshot'] as const;

export async function vmBackup(input: VmBackupInput): Promise<VmBackupResult> {
  const request = validInput(VmBackupInput, input);
  const { host, vg, snapshot, file } = request;
  const { runbook, people, approvals, leases, showPlan } = openRunbook('vmBackup', STEPS, { host, approvals: true, decisions: true });
  try {
    const done: string[] = [];
    const doneSoFar = () => done.join('; ') || 'nothing changed';
    await summarized(readOnly.lookUpHost, `look up ${host} in the inventory`)(host);

    const { origin, originBytes } = await runbook.step('preflight: the snapshot and the file', async () => {
      const snap = await summarized(readOnly.readSnapshot, `lvs on ${host}: ${vg}/${snapshot} is a snapshot, and of what`)(host, vg, snapshot);
      if (!snap) throw failure('Refused', `${vg}/${snapshot} on ${host} is not a snapshot: a running guest's volume changes under dd; take a snapshot first (vmSnapshot). Nothing was changed`);
      const existing = await summarized(readOnly.fileSize, `stat ${file} on ${host}: a backup never overwrites a file`)(host, file);
      if (existing !== null) throw failure('Refused', `${file} already exists on ${host} (${existing} bytes): a backup never overwrites a file; choose another name. Nothing was changed`);
      return snap;
    });

    const job: DetachedJob = {
      host, step: 'dd', command: copies.backup(`/dev/${vg}/${snapshot}`, file), totalBytes: originBytes, pollInterval: request.pollInterval,
      why: `copy the snapshot of ${origin} (${originBytes} bytes) to ${file}, compressed, as a detached job that outlives the SSH session`,
    };
    const remove: HostStep<Outcome> = {
      host, stage: 'openssh', command: lvm.remove(vg, snapshot), why: 'the snapshot is copied: it stops filling the volume group', skippable: true,
      run: (command) => summarized(hostChange.changeVolume, `lvremove ${vg}/${snapshot} on ${host}`)(host, { vg, lv: snapshot, exists: false }, command),
    };

    const approvedBy = await runbook.step('plan and approval', async () => {
      const plan = showPlan({
        summary: `Back up ${vg}/${snapshot} (snapshot of ${origin}) on ${host} to ${file}${request.removeSnapshot ? ', then remove the snapshot' : ''}`,
        steps: planOf([plannedJob(job), ...(request.removeSnapshot ? [remove] : [])]),
        facts: { origin, originBytes },
      });
      const rules = await summarized(readOnly.approvalPolicy, 'who approves vmBackup (the inventory\'s policy)')('vmBackup');
      return approvals.obtain({ what: `approve the backup of ${vg}/${snapshot} on ${host} to ${file}; see the "plan" query`, who: 'an admin', plan, rules, timeout: request.approvalTimeout });
    });

    await leases.take([hostLease(host)]);

    const copied = await runbook.step('dd | bzip2 to the file', () => runDetached(runbook, people, job, doneSoFar));
    done.push(`${file} written`);
    const fileBytes = await summarized(readOnly.fileSize, `stat ${file} on ${host}: the backup's size`)(host, file);

    let snapshotRemoved: VmBackupResult['snapshotRemoved'];
    if (request.removeSnapshot) {
      snapshotRemoved = await runbook.step('lvremove the snapshot', () => runStep(people, remove, doneSoFar));
      done.push(`snapshot ${outcomeText(snapshotRemoved)}`);
    } else {
      runbook.skip('lvremove the snapshot', 'not asked: the snapshot stays (it keeps filling while its origin changes)');
    }

    await condition(allHandlersFinished);
    return { host, snapshot: `${vg}/${snapshot}`, file, approvedBy, job: copied, fileBytes, snapshotRemoved, decisions: runbook.decisions, timeline: runbook.timeline };
  } finally {
    await leases.giveBack();
  }
}
