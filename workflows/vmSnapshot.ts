/**
 * "Snapshot d'une VM": `lvcreate -L1G -s -n guest1_root_snap1 /dev/vg0/guest1_root`, with the page's size rule (small
 * before a risky configuration change, large before a major upgrade) and its caution (the guest stopped for the
 * snapshot, started again at once). Then what the page only warns about: a snapshot that fills up becomes invalid,
 * so its fill is watched while it exists and the admins are mailed past a threshold. The host's lease is given back
 * before the watch: a backup or a restore of the snapshot may run meanwhile.
 */
import { msToNumber } from '@temporalio/common/lib/time.js';
import { allHandlersFinished, condition, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { Outcome } from '../activities/raid/activities.js';
import { lvm } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { VmSnapshotInput, type ApprovalRecord } from '../common/inputs.js';
import { hostLease, Leases } from './leases.js';
import { planQuery, type DecisionRecord, type Plan } from './messages.js';
import { Approvals } from './approvals.js';
import { People } from './people.js';
import { hostChange, readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { outcomeText, planOf, runStep, type HostStep, type Skipped } from './steps.js';
import { guestsOfDom0, xenDom0 } from './xenGuests.js';

export interface VmSnapshotResult {
  host: string;
  snapshot: string;
  size: string;
  approvedBy: ApprovalRecord[];
  created: Outcome | Skipped;
  guests: Record<string, unknown>[];
  /** The fill watch: the highest fill seen, whether the admins were mailed, and why it ended. */
  fill: { highestPercent: number; mailedAt?: number; ended: 'snapshot removed' | 'watch over' };
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = ['preflight: free space for the snapshot', 'plan and approval', 'stop the guest', 'lvcreate -s', 'start the guest again', 'watch the snapshot fill'] as const;

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

export async function vmSnapshot(input: VmSnapshotInput): Promise<VmSnapshotResult> {
  const request = validInput(VmSnapshotInput, input);
  const { host, guest, vg, volume } = request;
  const name = request.name ?? `${volume}_snap1`;
  const runbook = new Runbook('vmSnapshot', STEPS, host);
  const people = new People(runbook).acceptsDecisions();
  const approvals = new Approvals(people, runbook);
  const leases = new Leases(runbook);
  try {
    let plan: Plan | undefined;
    setHandler(planQuery, () => plan);
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
      why: `${request.purpose === 'config-change' ? 'small, before a risky configuration change' : 'as large as the volume, before a major upgrade'}; it becomes invalid if it fills up: watched, the admins mailed past ${request.fillThreshold}%`,
      run: (command) => summarized(hostChange.changeVolume, `lvcreate -s ${vg}/${name} of ${volume} on ${host}`)(host, { vg, lv: name, exists: true }, command),
    };

    const approvedBy = await runbook.step('plan and approval', async () => {
      plan = {
        summary: `Snapshot ${vg}/${name} (${preflight.size}) of ${guest}'s ${volume} on ${host}${request.stopGuest ? ', the guest stopped meanwhile' : ', the guest running'}`,
        steps: planOf([...guests.drainSteps, create, ...guests.restoreSteps]),
        facts: preflight.facts,
      };
      const rules = await summarized(readOnly.approvalPolicy, 'who approves vmSnapshot (the inventory\'s policy)')('vmSnapshot');
      return approvals.obtain({ what: `approve the snapshot of ${vg}/${volume} on ${host}; see the "plan" query`, who: 'an admin', plan: plan!, rules, timeout: request.approvalTimeout });
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

    const fill = await runbook.step('watch the snapshot fill', async () => {
      const deadline = Date.now() + msToNumber(request.watchFor);
      let highestPercent = 0;
      let mailedAt: number | undefined;
      for (;;) {
        if (!(await summarized(readOnly.volumeExists, `lvs on ${host}: does ${vg}/${name} still exist?`)(host, vg, name))) {
          return { highestPercent, mailedAt, ended: 'snapshot removed' as const };
        }
        const percent = await summarized(readOnly.readSnapshotFill, `lvs -o snap_percent ${vg}/${name} on ${host}`)(host, vg, name);
        highestPercent = Math.max(highestPercent, percent);
        runbook.detail({ snapshot: `${vg}/${name}`, percent, threshold: request.fillThreshold, until: new Date(deadline).toISOString() });
        if (percent >= request.fillThreshold && mailedAt === undefined) {
          mailedAt = percent;
          await summarized(readOnly.mailAdmins, `mail the admins: ${vg}/${name} on ${host} is ${percent}% full`)({
            subject: `${host}: snapshot ${vg}/${name} is ${percent}% full`,
            text: `The snapshot ${vg}/${name} of ${guest}'s ${volume} on ${host} is ${percent}% full (threshold ${request.fillThreshold}%). At 100% it becomes invalid and is lost.\n\nBack it up now (vm-backup) and remove it (lvremove), or merge it back (vm-restore).`,
            runbook: 'vmSnapshot', workflowId: workflowInfo().workflowId,
          });
        }
        if (Date.now() >= deadline) return { highestPercent, mailedAt, ended: 'watch over' as const };
        await sleep(request.fillPollInterval, { summary: `${vg}/${name} is ${percent}% full: next look in ${request.fillPollInterval}` });
      }
    });

    await condition(allHandlersFinished);
    return {
      host, snapshot: `${vg}/${name}`, size: preflight.size, approvedBy, created, guests: guestRecord, fill,
      decisions: runbook.decisions, timeline: runbook.timeline,
    };
  } finally {
    await leases.giveBack();
  }
}
