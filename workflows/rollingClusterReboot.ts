/**
 * Reboot every node of a Proxmox cluster, one at a time, each as a child hypervisorReboot: the page's planned
 * reboot, repeated. One approval for the whole roll, with every node's plan; the passphrases are asked per node
 * by its child. The next node starts only when the cluster is quorate and every guest that ran before runs again;
 * the first failure stops the roll.
 */
import { allHandlersFinished, condition, executeChild, workflowInfo } from '@temporalio/workflow';
import { power } from '../common/commands.js';
import { DEFAULT_RULES, planDrain } from '../common/drain-plan.js';
import { RollingClusterRebootInput, type ApprovalRecord } from '../common/inputs.js';
import { hypervisorReboot, type HypervisorRebootResult } from './hypervisorReboot.js';
import { openRunbook } from './kit.js';
import type { Plan } from './messages.js';
import { drainStep } from './proxmoxGuests.js';
import { clusterLease, hostLease } from './leases.js';
import { planOf } from './steps.js';
import { polling, readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { failure } from '../common/failures.js';

export interface RollingClusterRebootResult {
  cluster: string;
  /** Who approved the roll's plan (its hash), when and how. */
  approvals: ApprovalRecord[];
  nodes: { node: string; workflowId: string; result: HypervisorRebootResult }[];
  timeline: Runbook['timeline'];
}

const STEPS = ['preflight every node', 'plan and approval', 'reboot node by node'] as const;

export async function rollingClusterReboot(input: RollingClusterRebootInput): Promise<RollingClusterRebootResult> {
  const request = validInput(RollingClusterRebootInput, input);
  const { runbook, approvals, leases, showPlan } = openRunbook('rollingClusterReboot', STEPS, { host: request.cluster, cluster: request.cluster, approvals: true });
  try {
    const cluster = await summarized(readOnly.lookUpCluster, `look up cluster ${request.cluster} in the inventory`)(request.cluster);
    if (cluster.kind !== 'proxmox') throw failure('InvalidInput', `invalid input:\ncluster: ${cluster.name} is a ${cluster.kind} cluster; the rolling reboot knows Proxmox`);
    runbook.hosts(cluster.hosts);

    const { nodes, steps, running } = await runbook.step('preflight every node', async () => {
      const steps: Plan['steps'] = [];
      const refusals: string[] = [];
      let running: number[] = [];
      for (const node of cluster.hosts) {
        const facts = await summarized(readOnly.readClusterFacts, `the cluster as ${node} sees it`)(node);
        running = facts.guests.filter((g) => g.status === 'running').map((g) => g.vmid);
        const drain = planDrain(facts, node, { ...DEFAULT_RULES, afterUpgrade: request.afterUpgrade });
        refusals.push(...drain.refusals.map((r) => `${node}: ${r}`));
        // The node's own run recomputes its drain when its turn comes; a drain other than this one asks for its own approval.
        steps.push(...planOf(drain.moves.map((m) => drainStep(node, m))));
        steps.push({ host: node, stage: 'openssh', command: power.reboot().text, why: `then unlock, bring its guests back (child run ${workflowInfo().workflowId}-${node})` });
      }
      if (refusals.length) throw failure('Refused', `refused to roll ${cluster.name}:\n- ${[...new Set(refusals)].join('\n- ')}`);
      return { nodes: cluster.hosts, steps, running };
    });

    const approved = await runbook.step('plan and approval', async () => {
      const plan = showPlan({ summary: `Rolling reboot of ${cluster.name} (${nodes.join(', ')}): ${request.reason}`, steps, facts: { order: nodes, guestsRunning: running.length } });
      const rules = await summarized(readOnly.approvalPolicy, 'who approves rollingClusterReboot (the inventory\'s policy)')('rollingClusterReboot');
      return approvals.obtain({
        what: `approve the rolling reboot of ${cluster.name}, node by node (${nodes.join(' → ')}); see the "plan" query`, who: 'an approver',
        plan, rules, requestedBy: request.requestedBy,
        timeout: request.approvalTimeout, remindAfter: request.approvalRemindAfter, escalateAfter: request.approvalEscalateAfter,
      });
    });

    // The whole cluster and each of its nodes, from the approval to the end of the roll; the nodes' runs inherit them.
    await leases.take([clusterLease(cluster.name), ...nodes.map(hostLease)]);

    const done: RollingClusterRebootResult['nodes'] = [];
    await runbook.step('reboot node by node', async () => {
      const wait = polling(request.pollInterval, request.upTimeout);
      for (const [i, node] of nodes.entries()) {
        // Never the next node while the cluster is not whole again.
        runbook.detail({ node: `${i + 1} of ${nodes.length}: ${node}`, waitingFor: 'quorum and every guest running' });
        await summarized(wait.expectQuorate, `the cluster is quorate before ${node}`)(node);
        await summarized(wait.expectGuestsRunning, `every guest that ran before the roll runs again`)(node, running);
        const workflowId = `${workflowInfo().workflowId}-${node}`;
        runbook.detail({ node: `${i + 1} of ${nodes.length}: ${node}`, child: workflowId, passphrases: `npx runbook unlock ${workflowId}` });
        const result = await executeChild(hypervisorReboot, {
          args: [{
            host: node, reason: `${request.reason} (rolling reboot of ${cluster.name}, node ${i + 1} of ${nodes.length})`,
            afterUpgrade: request.afterUpgrade, migrateBack: request.migrateBack, upTimeout: request.upTimeout, downTimeout: request.downTimeout,
            pollInterval: request.pollInterval, guestShutdownTimeout: request.guestShutdownTimeout, unlockTries: request.unlockTries,
            leases: leases.forChild(), requestedBy: request.requestedBy,
            approvedInRoll: {
              approvals: approved, roll: workflowInfo().workflowId,
              commands: steps.filter((step) => step.host === node).map((step) => step.command),
            },
          }],
          workflowId,
          staticSummary: `Planned reboot of ${node}, node ${i + 1} of ${nodes.length} of ${cluster.name}`,
        }).catch((error: unknown) => {
          throw failure('RollStopped', `the roll stops at ${node} (node ${i + 1} of ${nodes.length}); ${done.map((d) => d.node).join(', ') || 'no node'} rebooted before: ${(error as Error).message}`);
        });
        done.push({ node, workflowId, result });
      }
      await summarized(wait.expectQuorate, `the cluster is quorate at the end`)(nodes[nodes.length - 1]!);
    });

    await condition(allHandlersFinished);
    return { cluster: cluster.name, approvals: approved, nodes: done, timeline: runbook.timeline };
  } finally {
    // However the run ends (done, failed, aborted, cancelled): the next runbook on these hosts may go on at once.
    await leases.giveBack();
  }
}
