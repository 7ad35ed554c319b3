/**
 * Redémarrage planifié hyperviseur: the planned reboot of a Proxmox node or a Xen dom0, as the wiki pages do it
 * (proxmox-faimaison-vm-creation-and-planned-reboot.txt, xen-lvm-raid1-…, "Ordre d'arrêt des VMs").
 *
 *   migrate the VMs and restart the containers elsewhere, stop what cannot move   (Xen: stop by dependency batches)
 *   reboot, wait 2 to 5 minutes
 *   dropbear: cryptroot-unlock the system disk
 *   OpenSSH: cryptsetup luksOpen the network LUNs
 *   validate, migrate back
 *
 * Safer than the page: a preflight refuses when the cluster is not quorate or the other nodes cannot take the
 * guests; the whole plan (every command, per host) is approved before anything changes; the dropbear and OpenSSH
 * stages are told apart by their own pinned host keys; passphrases are sealed and opened only on the worker.
 */
import { allHandlersFinished, condition, executeChild, workflowInfo } from '@temporalio/workflow';
import { luks, power } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { HypervisorRebootInput, type ApprovalRecord, type HypervisorRebootRequest } from '../common/inputs.js';
import { openRunbook } from './kit.js';
import type { DecisionRecord } from './messages.js';
import { hostChange, polling, readOnly } from './proxies.js';
import { proxmoxNode, type GuestsOfHost } from './proxmoxGuests.js';
import { rebootHost } from './rebootHost.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { hostLease } from './leases.js';
import { planOf, runStep, type HostStep, type PlannedCommand } from './steps.js';
import { openNetworkDisk, unlockRootDisk } from './unlock.js';
import { xenDom0 } from './xenGuests.js';

export interface HypervisorRebootResult {
  host: string;
  reason: string;
  /** Who approved which plan (its hash), when and how (signed, unsigned). */
  approvals: ApprovalRecord[];
  /** Set when the approvals are those of the rolling reboot that ran this node. */
  approvedInRoll?: string;
  bootIdBefore: string;
  bootIdAfter: string;
  /** Who typed which passphrase right, and after how many tries. */
  unlocked: { volume: string; by: string; tries: number }[];
  /** Where every guest was, where it went, where it ended. */
  guests: Record<string, unknown>[];
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = [
  'preflight',
  'plan and approval',
  'move or stop the guests',
  'reboot and wait',
  'dropbear: unlock the system disk',
  'unlock the network disks',
  'validate and bring the guests back',
] as const;

export async function hypervisorReboot(input: HypervisorRebootInput): Promise<HypervisorRebootResult> {
  const request: HypervisorRebootRequest = validInput(HypervisorRebootInput, input);
  const { host } = request;
  // What people answer in this runbook: the approval, decisions, passphrases.
  const { runbook, people, approvals, leases, showPlan } = openRunbook('hypervisorReboot', STEPS, { host, approvals: true, decisions: true, passphrases: true });
  try {
    if (request.approvedInRoll && !workflowInfo().parent) {
      throw failure('InvalidInput', 'invalid input:\napprovedInRoll: only a rollingClusterReboot may pass its approval to its nodes');
    }
    const done: string[] = [];
    const doneSoFar = () => [...guests.doneSoFar(), ...done].join('; ') || 'nothing changed';

    const found = await summarized(readOnly.lookUpHost, `look up ${host} in the inventory`)(host);
    const guests: GuestsOfHost =
      found.kind === 'proxmox-node' ? proxmoxNode(host, request, runbook, people, doneSoFar)
      : found.kind === 'xen-dom0' ? xenDom0(host, request, runbook, people, found.guests ?? [], doneSoFar)
      : refuse(`${host} is a ${found.kind}: hypervisorReboot knows Proxmox nodes and Xen dom0s`);

    const preflight = await runbook.step('preflight', async () => {
      const facts = await guests.preflight();
      const volumes = await summarized(readOnly.listVolumes, `read the LUKS volumes of ${host} (blkid, /etc/crypttab)`)(host);
      return { facts, volumes };
    });
    const root = found.hasDropbear ? preflight.volumes.find((v) => v.root) : undefined;

    // Every host change of the run, built once: the plan shows these, the steps below run these.
    const unlockRoot: PlannedCommand | undefined = root && {
      host, stage: 'dropbear', command: luks.unlockRoot(), why: `${root.name}: passphrase typed by an operator, sealed, written on stdin`,
    };
    const openVolumes = preflight.volumes.filter((v) => !v.root).map((v) => ({
      volume: v, host, stage: 'openssh' as const, command: luks.open(v.device, v.name), why: `network LUN ${v.name}: passphrase from an operator, on stdin`,
    }));
    const activate: HostStep<string> | undefined = openVolumes.length ? {
      host, stage: 'openssh', command: luks.activateVolumeGroups(), why: 'activate the volume groups on the opened LUNs',
      run: (command) => summarized(hostChange.activateVolumeGroups, `vgchange -ay on ${host}`)(host, command),
    } : undefined;

    const { plan, approvedBy, approvedInRoll } = await runbook.step('plan and approval', async () => {
      const plan = showPlan({
        summary: `Planned reboot of ${host}: ${request.reason}`,
        steps: [
          ...planOf(guests.drainSteps),
          // Run by the child rebootHost, which sends the same power.command('reboot').
          { host, stage: 'openssh', command: power.reboot().text, why: 'only if the boot id is still the one read before (never twice)' },
          ...planOf([...(unlockRoot ? [unlockRoot] : []), ...openVolumes, ...(activate ? [activate] : [])]),
          ...planOf(guests.restoreSteps),
        ],
        facts: preflight.facts,
      });
      runbook.detail({ plan: 'query "plan" shows every command, per host, in order' });
      const roll = request.approvedInRoll;
      if (roll) {
        // What the roll approved for this node is what runs, or this node asks for its own approval.
        const ours = [...planOf(guests.drainSteps).map((s) => s.command), power.reboot().text];
        if (ours.join('\n') === roll.commands.join('\n')) return { plan, approvedBy: roll.approvals, approvedInRoll: roll.roll };
        runbook.detail({ planChanged: `the roll ${roll.roll} approved ${roll.commands.join('; ')}; this node's plan now is ${ours.join('; ')}` });
      }
      const rules = await summarized(readOnly.approvalPolicy, 'who approves hypervisorReboot (the inventory\'s policy)')('hypervisorReboot');
      const what = roll
        ? `the plan for ${host} changed since the roll was approved (guests moved meanwhile): approve this node's plan; see the "plan" query`
        : `approve the plan to reboot ${host} (${request.reason}); see the "plan" query`;
      const approvedBy = await approvals.obtain({ what, who: 'an approver', plan, rules, requestedBy: request.requestedBy,
        timeout: request.approvalTimeout, remindAfter: request.approvalRemindAfter, escalateAfter: request.approvalEscalateAfter,
      });
      return { plan, approvedBy, approvedInRoll: undefined };
    });

    // From the approval to the end: every host the plan changes (guests go to other nodes and come back from them).
    await leases.take(plan.steps.map((s) => hostLease(s.host)), request.leases);

    await runbook.step('move or stop the guests', () => guests.drain());

    const reboot = await runbook.step('reboot and wait', () =>
      executeChild(rebootHost, {
        args: [{
          host, action: 'reboot', reason: request.reason, comesBackIn: unlockRoot ? 'dropbear' : 'openssh',
          downTimeout: request.downTimeout, upTimeout: request.upTimeout, pollInterval: request.pollInterval, leases: leases.forChild(),
        }],
        workflowId: `${workflowInfo().workflowId}-reboot`,
        staticSummary: `Reboot ${host} and wait for ${unlockRoot ? 'its dropbear (initramfs) stage' : 'OpenSSH'}`,
        staticDetails: `Part of the planned reboot of ${host}: ${request.reason}`,
      }));
    done.push(`${host} rebooted (boot id ${reboot.bootIdAfter})`);

    const unlocked: HypervisorRebootResult['unlocked'] = [];
    const unlocking = { host, request, people, doneSoFar, bootIdBefore: reboot.bootIdBefore };
    if (!unlockRoot || !root) {
      runbook.skip('dropbear: unlock the system disk', `${host}'s system disk is not encrypted`);
    } else {
      await runbook.step('dropbear: unlock the system disk', async () => {
        await summarized(readOnly.mailAdmins, `mail the admins: ${host} waits for its root passphrase`)({
          subject: `${host} waits in dropbear for its root passphrase`,
          text: `${host} rebooted (${request.reason}) and waits in its initramfs for the passphrase of ${root.name}.\n\nUnlock it with:\n  npx runbook unlock ${workflowInfo().workflowId}\nor the Temporal UI (Update "submitPassphrase") with our codec endpoint.`,
          runbook: 'hypervisorReboot', workflowId: workflowInfo().workflowId,
        });
        const who = await unlockRootDisk(unlocking, root, unlockRoot.command, reboot.bootIdAfter);
        unlocked.push({ volume: root.name, ...who });
        runbook.detail({ waitingFor: `${host} to answer on OpenSSH after the unlock` });
        await summarized(polling(request.pollInterval, request.upTimeout).expectBack, `wait for ${host}'s OpenSSH after the unlock`)(host, 'openssh', reboot.bootIdBefore);
      });
    }

    if (!openVolumes.length) {
      runbook.skip('unlock the network disks', `${host} has no network LUN in /etc/crypttab`);
    } else {
      await runbook.step('unlock the network disks', async () => {
        const locked = new Set((await summarized(readOnly.findLockedVolumes, `blkid, /etc/crypttab, dmsetup: LUKS volumes of ${host} not yet open`)(host)).map((v) => v.name));
        // Only the planned volumes, with the planned commands; one already open is not asked for.
        for (const step of openVolumes.filter((s) => locked.has(s.volume.name))) {
          const who = await openNetworkDisk(unlocking, step.volume, step.command);
          unlocked.push({ volume: step.volume.name, ...who });
        }
        if (activate) await runStep(people, activate, doneSoFar);
      });
    }
    if (unlocked.length) done.push(`unlocked ${unlocked.map((u) => u.volume).join(', ')}`);

    const guestRecord = await runbook.step('validate and bring the guests back', () => guests.restore());

    // An Update handler may still be replying; finish it before the run closes.
    await condition(allHandlersFinished);
    return {
      host, reason: request.reason, approvals: approvedBy, ...(approvedInRoll ? { approvedInRoll } : {}),
      bootIdBefore: reboot.bootIdBefore, bootIdAfter: reboot.bootIdAfter,
      unlocked, guests: guestRecord, decisions: runbook.decisions, timeline: runbook.timeline,
    };
  } finally {
    // However the run ends (done, failed, aborted, cancelled): the next runbook on these hosts may go on at once.
    await leases.giveBack();
  }
}

function refuse(message: string): never {
  throw failure('InvalidInput', message);
}
