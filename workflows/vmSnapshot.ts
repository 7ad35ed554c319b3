/**
 * "Snapshot d'une VM": `lvcreate -L1G -s -n guest1_root_snap1 /dev/vg0/guest1_root`, with the page's size rule (small
 * before a risky configuration change, large before a major upgrade) and its caution (the guest stopped for the
 * snapshot, started again at once). Then what the page only warns about: a snapshot that fills up becomes invalid,
 * so its fill is watched while it exists and the admins are mailed past a threshold: by a workflow of its own
 * (workflows/snapshotWatch.ts), started here and left running, so this run ends once the guest runs again.
 */
import { msToNumber } from '@temporalio/common/lib/time.js';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, WorkflowIdReusePolicy, allHandlersFinished, condition, startChild } from '@temporalio/workflow';
import type { Outcome } from '../activities/raid/activities.js';
import { lvm } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { VmSnapshotInput, type ApprovalRecord } from '../common/inputs.js';
import { openRunbook } from './kit.js';
import { hostLease } from './leases.js';
import type { DecisionRecord } from './messages.js';
import { hostChange, readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { fillLevels, snapshotWatch, snapshotWatchId } from './snapshotWatch.js';
import { outcomeText, planOf, runStep, type HostStep, type Skipped } from './steps.js';
import { guestsOfDom0, xenDom0 } from './xenGuests.js';

export interface VmSnapshotResult {
  host: string;
  snapshot: string;
  size: string;
  approvedBy: ApprovalRecord[];
  created: Outcome | Skipped;
  guests: Record<string, unknown>[];
  /** The fill watch's workflow (snapshotWatch), running on after this run while the snapshot exists. */
  watch: { workflowId: string; started: 'started' | 'already running' };
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = ['preflight: free space for the snapshot', 'plan and approval', 'stop the guest', 'lvcreate -s', 'start the guest again', 'start the fill watch'] as const;

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

export async function vmSnapshot(input: VmSnapshotInput): Promise<VmSnapshotResult> {
  const request = validInput(VmSnapshotInput, input);
  const { host, guest, vg, volume } = request;
  const name = request.name ?? `${volume}_snap1`;
  const { runbook, people, approvals, leases, showPlan } = openRunbook('vmSnapshot', STEPS, { host, approvals: true, decisions: true });
  try {
    const done: string[] = [];
    const doneSoFar = () => [...guests.doneSoFar(), ...done].join('; ') || 'nothing changed';

    const inventoryGuests = await guestsOfDom0(host, guest, 'vmSnapshot');
    const guests = xenDom0(host, request, runbook, people, inventoryGuests, doneSoFar, request.stopGuest ? [guest] : []);

    const preflight = await runbook.step('preflight: free space for the snapshot', async () => {
      const space = await summarized(readOnly.readVolumeSpace, `vgs and lvs on ${host}: free space in ${vg}, size of ${volume}`)(host, vg, volume);
      // The page: a small snapshot before a configuration change (1G), a large one before a major upgrade (the whole volume: it can never fill).
      const bytes = request.purpose === 'config-change' ? Math.min(GiB, space.lvSizeBytes) : space.lvSizeBytes;
      const size = bytes % GiB === 0 ? `${bytes / GiB}G` : `${Math.ceil(bytes / MiB)}M`;
      if (bytes > space.vgFreeBytes) {
        throw failure('Refused', `not enough free space: a ${size} snapshot of ${vg}/${volume} (${request.purpose}) needs ${bytes} bytes, but ${vg} on ${host} has ${space.vgFreeBytes} bytes free; nothing was changed`);
      }
      if (await summarized(readOnly.volumeExists, `lvs on ${host}: no ${vg}/${name} yet`)(host, vg, name)) {
        throw failure('Refused', `${vg}/${name} already exists on ${host}: choose another name; nothing was changed`);
      }
      return { size, bytes, facts: { ...(await guests.preflight()), volumeBytes: space.lvSizeBytes, vgFreeBytes: space.vgFreeBytes, snapshotBytes: bytes } };
    });

    const create: HostStep<Outcome> = {
      host, stage: 'openssh', command: lvm.snapshot(vg, volume, name, preflight.size),
      why: `${request.purpose === 'config-change' ? 'small, before a risky configuration change' : 'as large as the volume, before a major upgrade'}; it becomes invalid if it fills up: watched by ${snapshotWatchId(host, vg, name)}, the admins mailed past ${fillLevels(request.fillThreshold).join('% and ')}%`,
      run: (command) => summarized(hostChange.changeVolume, `lvcreate -s ${vg}/${name} of ${volume} on ${host}`)(host, { vg, lv: name, exists: true }, command),
    };

    const approvedBy = await runbook.step('plan and approval', async () => {
      const plan = showPlan({
        summary: `Snapshot ${vg}/${name} (${preflight.size}) of ${guest}'s ${volume} on ${host}${request.stopGuest ? ', the guest stopped meanwhile' : ', the guest running'}`,
        steps: planOf([...guests.drainSteps, create, ...guests.restoreSteps]),
        facts: preflight.facts,
      });
      const rules = await summarized(readOnly.approvalPolicy, 'who approves vmSnapshot (the inventory\'s policy)')('vmSnapshot');
      return approvals.obtain({ what: `approve the snapshot of ${vg}/${volume} on ${host}; see the "plan" query`, who: 'an admin', plan, rules, timeout: request.approvalTimeout });
    });

    await leases.take([hostLease(host)]);

    if (guests.drainSteps.length) await runbook.step('stop the guest', () => guests.drain());
    else runbook.skip('stop the guest', request.stopGuest ? `${guest} does not run` : 'not asked: the guest keeps running');

    const created = await runbook.step('lvcreate -s', () => runStep(people, create, doneSoFar));
    done.push(`${vg}/${name} ${outcomeText(created)}`);

    const guestRecord = guests.restoreSteps.length ? await runbook.step('start the guest again', () => guests.restore()) : [];
    if (!guests.restoreSteps.length) runbook.skip('start the guest again', 'it was not stopped');

    // The host is free for others (a backup of this snapshot) while its fill is watched.
    await leases.giveBack();

    const watch = await runbook.step('start the fill watch', async () => {
      const workflowId = snapshotWatchId(host, vg, name);
      try {
        await startChild(snapshotWatch, {
          workflowId,
          args: [{
            host, guest, vg, volume, snapshot: name, fillThreshold: request.fillThreshold, fillPollInterval: request.fillPollInterval,
            until: new Date(Date.now() + msToNumber(request.watchFor)).toISOString(),
          }],
          // It lasts as long as the snapshot: this run ends now.
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          staticSummary: `Watch the fill of ${vg}/${name} on ${host} until it is removed`,
        });
        return { workflowId, started: 'started' as const };
      } catch (error) {
        // Already watched (a snapshot of that name made again by hand, watched since): one watch is enough.
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        return { workflowId, started: 'already running' as const };
      }
    });

    await condition(allHandlersFinished);
    return {
      host, snapshot: `${vg}/${name}`, size: preflight.size, approvedBy, created, guests: guestRecord, watch,
      decisions: runbook.decisions, timeline: runbook.timeline,
    };
  } finally {
    await leases.giveBack();
  }
}
