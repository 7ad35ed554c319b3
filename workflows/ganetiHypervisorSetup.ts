/**
 * Ganeti hypervisor preparation (ganeti-member-vm-onboarding.txt, "Pour configurer les hyperviseurs"): `addgroup
 * ref-host-vm` unless it exists, and the `Match group ref-host-vm` block of /etc/ssh/sshd_config, written once. Safer
 * than the page: the file is copied first, `sshd -t` checks the new one before `systemctl reload ssh`, and a file it
 * refuses is replaced by the copy (a broken sshd_config would lock everyone out at the next restart). A second run
 * finds both done and changes nothing.
 */
import { allHandlersFinished, condition, workflowInfo } from '@temporalio/workflow';
import type { Outcome } from '../activities/raid/activities.js';
import { matchGroupBlock, sshdConfig, sshdConfigChange } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { GanetiHypervisorSetupInput, type ApprovalRecord } from '../common/inputs.js';
import { openRunbook } from './kit.js';
import { hostLease } from './leases.js';
import type { DecisionRecord } from './messages.js';
import { hostChange, readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { planOf, runStep, type HostStep, type PlannedCommand, type Skipped } from './steps.js';

export interface GanetiHypervisorSetupResult {
  host: string;
  group: Outcome | Skipped;
  matchBlock: Outcome | Skipped;
  approvedBy?: ApprovalRecord[];
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = ['preflight', 'plan and approval', 'addgroup', 'the Match group block'] as const;

export async function ganetiHypervisorSetup(input: GanetiHypervisorSetupInput): Promise<GanetiHypervisorSetupResult> {
  const request = validInput(GanetiHypervisorSetupInput, input);
  const { host, group } = request;
  const { runbook, people, approvals, leases, showPlan } = openRunbook('ganetiHypervisorSetup', STEPS, { host, approvals: true, decisions: true });
  try {
    const found = await summarized(readOnly.lookUpHost, `look up ${host} in the inventory`)(host);
    if (found.kind !== 'ganeti-node' && found.kind !== 'ganeti-master') throw failure('InvalidInput', `invalid input:\nhost: ${host} is a ${found.kind}, not a Ganeti node`);
    const block = matchGroupBlock(group);
    const done: string[] = [];
    const doneSoFar = () => done.join('; ') || 'nothing changed';

    const now = await runbook.step('preflight', () => summarized(readOnly.readSshSetup, `getent group ${group}, sshd_config on ${host}`)(host, group, block));

    const addGroup: HostStep<Outcome> = {
      host, stage: 'openssh', command: sshdConfig.addGroup(group), why: `the group of the members' jailed users`,
      run: (command) => summarized(hostChange.ensureGroup, `addgroup ${group} on ${host}`)(host, group, command),
    };
    const commands = sshdConfigChange(workflowInfo().workflowId);
    const blockSteps: PlannedCommand[] = [
      { host, stage: 'openssh', command: commands.backup, why: 'a copy of the file as it is, put back if sshd -t refuses the new one' },
      { host, stage: 'openssh', command: commands.write, why: `the file plus the Match group ${group} block (on stdin); then sshd -t` },
      { host, stage: 'openssh', command: commands.reload, why: 'only once sshd -t accepts the new file' },
    ];
    const writeBlock: HostStep<Outcome> = {
      ...blockSteps[1]!,
      run: () => summarized(hostChange.addMatchBlock, `the Match group ${group} block in sshd_config on ${host}, sshd -t, reload`)(host, block, commands),
    };
    const steps = [...(now.groupExists ? [] : [addGroup]), ...(now.blockPresent ? [] : blockSteps)];

    let approvedBy: ApprovalRecord[] | undefined;
    if (!steps.length) {
      runbook.skip('plan and approval', `${host} has the group ${group} and the block already: nothing to change`);
    } else {
      approvedBy = await runbook.step('plan and approval', async () => {
        const plan = showPlan({ summary: `Prepare the Ganeti hypervisor ${host} for members' jailed SSH users (group ${group})`, steps: planOf(steps), facts: { ...now, block } });
        const rules = await summarized(readOnly.approvalPolicy, 'who approves ganetiHypervisorSetup (the inventory\'s policy)')('ganetiHypervisorSetup');
        return approvals.obtain({ what: `approve the SSH setup of ${host}; see the "plan" query`, who: 'an admin', plan, rules, timeout: request.approvalTimeout });
      });
      await leases.take([hostLease(host)]);
    }

    let groupOutcome: Outcome | Skipped = 'already done';
    if (now.groupExists) runbook.skip('addgroup', `${group} exists`);
    else groupOutcome = await runbook.step('addgroup', () => runStep(people, addGroup, doneSoFar));
    done.push(`group ${group}: ${String(groupOutcome)}`);

    let blockOutcome: Outcome | Skipped = 'already done';
    if (now.blockPresent) runbook.skip('the Match group block', 'in sshd_config already');
    else blockOutcome = await runbook.step('the Match group block', () => runStep(people, writeBlock, doneSoFar));

    await condition(allHandlersFinished);
    return { host, group: groupOutcome, matchBlock: blockOutcome, approvedBy, decisions: runbook.decisions, timeline: runbook.timeline };
  } finally {
    await leases.giveBack();
  }
}
