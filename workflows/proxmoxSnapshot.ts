/**
 * Proxmox VM snapshots (proxmox-faimaison-vm-creation-and-planned-reboot.txt, "Stockage"): `qm snapshot`, `qm rollback`,
 * `qm delsnapshot`, only for VMs whose disks are all on a storage that takes snapshots — `lvmthin_luks_local`. The
 * shared LUNs (lvm_luks_shared, lvm_noluks_shared) are thick LVM: the page says they do not support snapshots (but
 * give HA); the run refuses with that reason before anything changes. A rollback overwrites the VM's disks: approved.
 * It also leaves the VM stopped (a snapshot without RAM state): a VM that ran before is started again (checked
 * first: one whose snapshot held its RAM resumes by itself, and the start is then already done).
 *
 * Safer than the page: a rollback never runs twice. PVE gives a VM a new generation id (`vmgenid`) at every rollback;
 * read right before, it tells a retried attempt (a worker killed mid-step) that the first one ran. A VM without one
 * keeps no trace: its retry asks a person instead of rolling back again over what the VM wrote since.
 */
import { allHandlersFinished, condition, patched } from '@temporalio/workflow';
import type { Outcome } from '../activities/raid/activities.js';
import { proxmox } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { ProxmoxSnapshotInput, type ApprovalRecord } from '../common/inputs.js';
import { openRunbook } from './kit.js';
import { hostLease } from './leases.js';
import type { DecisionRecord } from './messages.js';
import { hostChange, readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { planOf, runStep, type HostStep, type Skipped } from './steps.js';

export interface ProxmoxSnapshotResult {
  host: string;
  vmid: number;
  action: string;
  snapshot: string;
  approvedBy: ApprovalRecord[];
  outcome: Outcome | Skipped;
  /** A rollback: whether the VM ran right before it, and its start afterwards. */
  runningBefore?: boolean;
  restarted?: Outcome | Skipped;
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

/** The patch that reads the VM's generation id before a rollback (runs recorded before it replay without). */
const ROLLBACK_GUARD = 'rollback-guarded-by-vmgenid';

const STEPS = ['preflight: the storages take snapshots', 'plan and approval', 'qm snapshot, rollback or delsnapshot', 'start the VM again'] as const;

/** The page's words for its storages that do not take snapshots. */
const WHY_NOT = 'the page ("Stockage"): the shared LUNs lvm_noluks_shared and lvm_luks_shared are "ne supportant pas les snapshots, mais du coup en HA"; only lvmthin_luks_local (not shared, so no HA) supports "snapshots containers/VMs"';

export async function proxmoxSnapshot(input: ProxmoxSnapshotInput): Promise<ProxmoxSnapshotResult> {
  const request = validInput(ProxmoxSnapshotInput, input);
  const { host, vmid, action, name } = request;
  const { runbook, people, approvals, leases, showPlan } = openRunbook('proxmoxSnapshot', STEPS, { host, approvals: true, decisions: true });
  try {
    const found = await summarized(readOnly.lookUpHost, `look up ${host} in the inventory`)(host);
    if (found.kind !== 'proxmox-node') throw failure('InvalidInput', `invalid input:\nhost: ${host} is a ${found.kind}, not a Proxmox node`);

    const vm = await runbook.step('preflight: the storages take snapshots', async () => {
      const facts = await summarized(readOnly.readVmStorages, `qm config ${vmid}, storages and snapshots on ${host}`)(host, vmid);
      const without = facts.storages.filter((s) => s.type !== 'lvmthin');
      if (without.length) {
        throw failure('Refused', `VM ${vmid} (${facts.name}) has disks on ${without.map((s) => `${s.storage} (${s.type}${s.shared ? ', shared' : ''})`).join(', ')}, which take no snapshots: ${WHY_NOT}. Nothing was changed`);
      }
      if (action !== 'snapshot' && !facts.snapshots.includes(name)) {
        throw failure('Refused', `VM ${vmid} (${facts.name}) has no snapshot ${name} (it has: ${facts.snapshots.join(', ') || 'none'}); nothing was changed`);
      }
      return facts;
    });

    /** The VM's generation id right before the rollback: a retried rollback that finds another one already ran. */
    let genIdBefore: string | null | undefined;
    const step: HostStep<Outcome> = {
      host, stage: 'openssh',
      command: action === 'snapshot' ? proxmox.snapshot(vmid, name, request.description) : action === 'rollback' ? proxmox.rollback(vmid, name) : proxmox.deleteSnapshot(vmid, name),
      why: action === 'snapshot' ? `snapshot of ${vm.name} on ${vm.storages.map((s) => s.storage).join(', ')}`
        : action === 'rollback' ? `${vm.name}'s disks back to ${name}: what was written since is lost; the VM is stopped after (unless the snapshot holds its RAM)`
        : `${name} no longer kept`,
      run: (command) => summarized(hostChange.changeVmSnapshot, `qm ${action} ${vmid} ${name} on ${host}`)(host, { vmid, name, action, ...(genIdBefore !== undefined ? { genIdBefore } : {}) }, command),
      // A rollback retried on a VM without a generation id asks a person, who may say it already ran.
      skippable: action === 'rollback',
    };

    // A rollback leaves the VM stopped: one that runs now is started again after.
    const restartPlanned = action === 'rollback' && vm.status === 'running';
    const restart: HostStep<Outcome> = {
      host, stage: 'openssh', command: proxmox.start('qemu', vmid),
      why: `${vm.name} ran before the rollback, which stops it; checked first: a snapshot with its RAM resumes by itself`,
      run: (command) => summarized(hostChange.startGuest, `qm start ${vmid} on ${host}`)({ vmid, type: 'qemu', node: host }, command),
    };

    const approvedBy = await runbook.step('plan and approval', async () => {
      const summary = `${action} ${name} of VM ${vmid} (${vm.name}) on ${host}${restartPlanned ? ', then start it again' : ''}`;
      const plan = showPlan({ summary, steps: planOf([step, ...(restartPlanned ? [restart] : [])]), facts: { storages: vm.storages, snapshots: vm.snapshots, status: vm.status } });
      const rules = await summarized(readOnly.approvalPolicy, 'who approves proxmoxSnapshot (the inventory\'s policy)')('proxmoxSnapshot');
      return approvals.obtain({ what: `approve: ${step.command.text} on ${host}; see the "plan" query`, who: 'an admin', plan, rules, timeout: request.approvalTimeout });
    });

    await leases.take([hostLease(host)]);
    let runningBefore: boolean | undefined;
    const outcome = await runbook.step('qm snapshot, rollback or delsnapshot', async () => {
      if (action === 'rollback') {
        // Looked at again: the approval may have come days after the plan.
        runningBefore = (await summarized(readOnly.readVmStatus, `qm status ${vmid} on ${host}: does it run before the rollback?`)(host, vmid)) === 'running';
        if (runningBefore && !restartPlanned) {
          throw failure('Refused', `VM ${vmid} (${vm.name}) was started since the plan, which does not start it again after the rollback: start the runbook again for a new plan. Nothing was changed`);
        }
        // Runs recorded before this guard replay without the read (and roll back unguarded, as they did).
        if (patched(ROLLBACK_GUARD)) genIdBefore = await summarized(readOnly.readVmGenId, `qm config ${vmid} on ${host}: the generation id a rollback changes`)(host, vmid);
      }
      return runStep(people, step, () => 'nothing changed');
    });

    let restarted: Outcome | Skipped | undefined;
    if (restartPlanned && runningBefore) {
      restarted = await runbook.step('start the VM again', () => runStep(people, restart, () => `${name} rolled back, ${vm.name} stopped`));
    } else {
      runbook.skip('start the VM again', action !== 'rollback' ? `a ${action} does not stop ${vm.name}` : restartPlanned ? `${vm.name} was stopped by then: left stopped` : `${vm.name} did not run before`);
    }

    await condition(allHandlersFinished);
    return {
      host, vmid, action, snapshot: name, approvedBy, outcome, ...(action === 'rollback' ? { runningBefore, restarted } : {}),
      decisions: runbook.decisions, timeline: runbook.timeline,
    };
  } finally {
    await leases.giveBack();
  }
}
