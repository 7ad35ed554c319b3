/**
 * "Extension de la taille d'une partition de VM" (xen-lvm-raid1-disk-replacement-vm-shutdown-order.txt): the page's
 * one-liner `xl shutdown -w guest1 && mount -o remount -w / && lvresize -r -L +2G … && mount -o remount -r / && xl create …`,
 * made safe:
 *
 *   the free space of the volume group checked first, in bytes; a shrink or a size beyond it refused with the numbers
 *   the guest stopped with a bound (`xl shutdown -w` has none): the Xen guest steps of workflows/xenGuests.ts
 *   `/` read-write only around `lvresize -r`, and read-only again afterwards whatever happens: a failed resize, a
 *   person's abort, a worker that dies in between (the retried activity goes on; the remount back is guarded)
 *   `lvresize -r` as a detached job: fsadm's filesystem resize goes on when the worker dies, and the next worker
 *   re-attaches to it, instead of finding the volume grown, calling it done and starting the guest on a filesystem
 *   still being resized
 *   the guest started again and checked running; the guests that depend on it named in the plan
 */
import { allHandlersFinished, CancellationScope, condition } from '@temporalio/workflow';
import type { VolumeSpace } from '../activities/lvm.js';
import type { JobStatus } from '../activities/jobs.js';
import type { Outcome } from '../activities/raid/activities.js';
import { lvm, rootfs } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { lvmSizeBytes, VmDiskResizeInput, type ApprovalRecord } from '../common/inputs.js';
import { dependantsOf } from '../common/shutdown-order.js';
import { openRunbook } from './kit.js';
import { hostLease } from './leases.js';
import type { DecisionRecord } from './messages.js';
import { detachedAttempt, nextAttempt, plannedJob, type DetachedJob } from './detached.js';
import { hostChange, readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { outcomeText, persist, planOf, type HostStep, type Skipped } from './steps.js';
import { guestsOfDom0, xenDom0 } from './xenGuests.js';

export interface VmDiskResizeResult {
  host: string;
  guest: string;
  volume: string;
  approvedBy: ApprovalRecord[];
  /** The volume's size before and after, in bytes, and the volume group's free space before. */
  sizeBytes: { before: number; after: number; vgFreeBefore: number };
  /** The detached `lvresize -r` job's end, or `already done` (a person's retry found the volume grown). */
  resized: JobStatus | Outcome | Skipped;
  /** The dom0's root: as found, and read-only again at the end (each remount's outcome). */
  root: { atStart: 'ro' | 'rw'; atEnd: 'ro' | 'rw'; remounts: string[] };
  /** The guests that lost this one while it was stopped. */
  dependants: string[];
  guests: Record<string, unknown>[];
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = ['preflight: free space in the volume group', 'plan and approval', 'shut the guest down', 'lvresize -r with / read-write', 'start the guest again'] as const;

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB (${bytes} bytes)`;

export async function vmDiskResize(input: VmDiskResizeInput): Promise<VmDiskResizeResult> {
  const request = validInput(VmDiskResizeInput, input);
  const { host, guest, vg, volume } = request;
  const { runbook, people, approvals, leases, showPlan } = openRunbook('vmDiskResize', STEPS, { host, approvals: true, decisions: true });
  const remounts: string[] = [];
  let rootRw = false;
  try {
    const done: string[] = [];
    const doneSoFar = () => [...guests.doneSoFar(), ...done].join('; ') || 'nothing changed';

    const inventoryGuests = await guestsOfDom0(host, guest, 'vmDiskResize');
    const guests = xenDom0(host, request, runbook, people, inventoryGuests, doneSoFar, [guest]);
    const dependants = dependantsOf(inventoryGuests, guest);

    const preflight = await runbook.step('preflight: free space in the volume group', async () => {
      const space: VolumeSpace = await summarized(readOnly.readVolumeSpace, `vgs and lvs on ${host}: free space in ${vg}, size of ${volume}`)(host, vg, volume);
      // LVM rounds a size up to whole extents: the space needed is what lvresize will take.
      const addBytes = Math.ceil(lvmSizeBytes(request.add) / space.extentBytes) * space.extentBytes;
      if (addBytes > space.vgFreeBytes) {
        throw failure('Refused', `not enough free space: adding ${request.add} to ${vg}/${volume} needs ${gib(addBytes)}, but ${vg} on ${host} has ${gib(space.vgFreeBytes)} free; nothing was changed`);
      }
      const rootAtStart = await summarized(readOnly.readRootMode, `findmnt: is the root of ${host} read-only?`)(host);
      const facts = await guests.preflight();
      return { space, addBytes, rootAtStart, facts };
    });
    const { space, addBytes, rootAtStart } = preflight;
    const targetBytes = space.lvSizeBytes + addBytes;

    const remount = (mode: 'rw' | 'ro', why: string): HostStep<Outcome> => ({
      host, stage: 'openssh', command: rootfs.remount(mode), why,
      run: (command) => summarized(hostChange.remountRoot, `mount -o remount,${mode} / on ${host}`)(host, mode, command),
    });
    const rw = remount('rw', `lvresize -r runs fsadm, which writes to the root: read-write for the resize only${rootAtStart === 'rw' ? ' (found read-write already)' : ''}`);
    const ro = remount('ro', 'read-only again, whatever the resize did');
    const grow: DetachedJob = {
      host, step: 'lvresize', command: lvm.grow(vg, volume, request.add), pollInterval: request.pollInterval,
      why: `${vg}/${volume} from ${gib(space.lvSizeBytes)} to ${gib(targetBytes)}, its filesystem with it, as a detached job; ${vg} has ${gib(space.vgFreeBytes)} free`,
    };

    const approvedBy = await runbook.step('plan and approval', async () => {
      const lose = dependants.length ? `; ${dependants.join(', ')} depend on it and lose it while it is stopped` : '';
      const plan = showPlan({
        summary: `Grow ${vg}/${volume} of ${guest} on ${host} by ${request.add} (${request.reason})${lose}`,
        steps: planOf([...guests.drainSteps, rw, plannedJob(grow), ro, ...guests.restoreSteps]),
        facts: { ...preflight.facts, volumeBytes: space.lvSizeBytes, targetBytes, vgFreeBytes: space.vgFreeBytes, rootAtStart, dependants },
      });
      if (!guests.drainSteps.length) runbook.detail({ note: `${guest} does not run: it is resized stopped and stays stopped` });
      const rules = await summarized(readOnly.approvalPolicy, 'who approves vmDiskResize (the inventory\'s policy)')('vmDiskResize');
      return approvals.obtain({ what: `approve growing ${vg}/${volume} of ${guest} on ${host} by ${request.add}${lose}; see the "plan" query`, who: 'an admin', plan, rules, timeout: request.approvalTimeout });
    });

    await leases.take([hostLease(host)]);

    await runbook.step('shut the guest down', () => guests.drain());

    let attempt = 1;
    const resized = await runbook.step('lvresize -r with / read-write', () =>
      // One attempt is rw, resize, ro: a resize that fails for good leaves the root read-only while a person decides.
      persist(people, { host, title: grow.command.text, doneSoFar }, async (): Promise<JobStatus | Outcome> => {
        try {
          remounts.push(`rw: ${outcomeText(await rw.run(rw.command))}`);
          rootRw = true;
          // A person's retry after a failed job: the volume may have grown before the job failed; never grow it twice.
          if (attempt > 1 && (await summarized(readOnly.readVolumeSpace, `lvs on ${host}: has ${volume} grown already?`)(host, vg, volume)).lvSizeBytes >= targetBytes) return 'already done';
          const status = await detachedAttempt(runbook, grow, attempt);
          done.push(`${vg}/${volume} grown by ${request.add}`);
          return status;
        } catch (error) {
          attempt = nextAttempt(attempt, error);
          throw error;
        } finally {
          await CancellationScope.nonCancellable(async () => {
            remounts.push(`ro: ${outcomeText(await ro.run(ro.command))}`);
            rootRw = false;
          });
        }
      }));

    const guestRecord = await runbook.step('start the guest again', () => guests.restore());
    const after = (await summarized(readOnly.readVolumeSpace, `lvs on ${host}: the new size of ${volume}`)(host, vg, volume)).lvSizeBytes;
    const atEnd = await summarized(readOnly.readRootMode, `findmnt: the root of ${host} is read-only again`)(host);

    await condition(allHandlersFinished);
    return {
      host, guest, volume: `${vg}/${volume}`, approvedBy, resized, dependants, guests: guestRecord,
      sizeBytes: { before: space.lvSizeBytes, after, vgFreeBefore: space.vgFreeBytes },
      root: { atStart: rootAtStart, atEnd, remounts },
      decisions: runbook.decisions, timeline: runbook.timeline,
    };
  } finally {
    // The remount back failed for good, or a person aborted while it was due: one more try before the run ends.
    if (rootRw) {
      await CancellationScope.nonCancellable(() =>
        summarized(hostChange.remountRoot, `mount -o remount,ro / on ${host} before the run ends`)(host, 'ro', rootfs.remount('ro'))).catch(() => undefined);
    }
    await leases.giveBack();
  }
}
