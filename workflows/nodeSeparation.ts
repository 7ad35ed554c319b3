/**
 * "Démonter notre cluster Proxmox" (proxmox-ceph-cluster-build-and-teardown.txt): take one node out of its cluster.
 *
 *   systemctl stop pve-cluster; systemctl stop corosync      on the node
 *   pmxcfs -l
 *   rm /etc/pve/corosync.conf; rm -r /etc/corosync/*
 *   killall pmxcfs; systemctl start pve-cluster
 *   pvecm delnode NODE                                       from a remaining node
 *   rm /var/lib/corosync/*                                   on the separated node
 *
 * Safer than the page:
 *   - a read-only preflight refuses, with the numbers, when the cluster is not quorate now or would not be without
 *     this node (the QDevice's votes counted as votes, never as a node), when the node is the last one, or when its
 *     guests cannot all move to the other nodes under the reboot runbook's capacity rules;
 *   - the whole plan, every command per host, is approved by two people (the inventory's policy) before anything changes;
 *   - the guests leave first, with the planned reboot's own drain steps; then the node's Ceph OSDs, one at a time:
 *     `ceph osd out` once `ok-to-stop` agrees, a durable wait until `safe-to-destroy`, the service stopped,
 *     `pveceph osd destroy` (refused up front when the OSDs left cannot hold a pool's size);
 *   - everything removed is copied first to a dated folder; the globs are listed and named; the local pmxcfs is
 *     stopped by its pid, not by killall; /etc/pve is written only in local mode;
 *   - every step looks first, so a retry after a crash finds it done; a step that fails for good asks a person
 *     (retry or abort) and mails the admins; the end checks the remaining cluster is quorate with the votes expected.
 */
import { allHandlersFinished, condition, workflowInfo } from '@temporalio/workflow';
import type { QuorumFacts } from '../activities/corosync.js';
import { failure } from '../common/failures.js';
import { NodeSeparationInput, type ApprovalRecord } from '../common/inputs.js';
import { separationVotes, type SeparationVotes } from '../common/quorum.js';
import { openRunbook } from './kit.js';
import { clusterLease, hostLease } from './leases.js';
import type { DecisionRecord } from './messages.js';
import { polling, readOnly } from './proxies.js';
import { proxmoxNode } from './proxmoxGuests.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { cephRefusals, daemonSteps, osdSteps, removeOsds } from './cephSteps.js';
import { separate, SEPARATION_TITLES, separationSteps, sequenceOf } from './separationSteps.js';
import { persist, planOf, walker, type RanStep } from './steps.js';

export interface NodeSeparationResult {
  host: string;
  cluster: string;
  /** The member `pvecm delnode` ran on. */
  remaining: string;
  approvals: ApprovalRecord[];
  /** The votes before, while the node was stopped, and after delnode, as planned; and as the remaining node saw them at the end. */
  votes: SeparationVotes;
  votesAtEnd: { expected: number; total: number; quorate: boolean; nodes: string[] };
  /** The Ceph daemons destroyed: OSDs (each after `ceph osd safe-to-destroy`), the monitor (after `ceph mon ok-to-rm`), the manager. */
  cephDestroyed: string[];
  /** Where the configuration was copied before its removal. */
  backupDir: string;
  /** Every host step, in order, and its outcome: done, already done (a retry), or skipped by whom. */
  steps: RanStep[];
  /** What happened to each guest that was on the node. */
  guests: string[];
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = [
  'preflight: quorum without the node, where its guests go',
  'plan and approvals',
  'move the guests to the other nodes',
  'Ceph: each OSD out, drained, stopped, destroyed',
  'Ceph: the monitor and the manager destroyed',
  ...SEPARATION_TITLES,
  'the remaining cluster is quorate with the expected votes',
] as const;

/** The backup folder: dated from the run's start, the same in the plan and on every retry. */
export const backupFolder = (start: Date) => `/root/corosync-backup-${start.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;

export async function nodeSeparation(input: NodeSeparationInput): Promise<NodeSeparationResult> {
  const request = validInput(NodeSeparationInput, input);
  const { host } = request;
  const { runbook, people, approvals, leases, showPlan } = openRunbook('nodeSeparation', STEPS, { host, approvals: true, decisions: true });
  try {
    const ran: NodeSeparationResult['steps'] = [];
    const doneSoFar = () => [...guests.doneSoFar(), ...ran.map((s) => `${s.host}: ${s.command} (${s.outcome})`)].join('; ') || 'nothing changed';

    const found = await summarized(readOnly.lookUpHost, `look up ${host} in the inventory`)(host);
    if (found.kind !== 'proxmox-node') throw failure('InvalidInput', `invalid input:\nhost: ${host} is a ${found.kind}; nodeSeparation takes a Proxmox node out of its cluster`);
    const cluster = await summarized(readOnly.clusterOfHost, `the cluster of ${host} in the inventory`)(host);
    const guests = proxmoxNode(host, { afterUpgrade: false, migrateBack: false, pollInterval: request.pollInterval, upTimeout: request.upTimeout }, runbook, people, doneSoFar);

    const preflight = await runbook.step('preflight: quorum without the node, where its guests go', async () => {
      const quorum: QuorumFacts = await summarized(readOnly.readQuorum, `pvecm status, pvecm nodes, corosync.conf: the votes as ${host} sees them`)(host);
      const me = quorum.members.find((m) => m.local && !m.qdevice);
      const votes = separationVotes(host, {
        quorate: quorum.status.quorate, expected: quorum.status.expectedVotes, total: quorum.status.totalVotes,
        nodeVotes: me?.votes ?? 1, nodelist: quorum.nodelist, qdeviceVotes: quorum.status.qdevice?.votes ?? 0,
      });
      // delnode runs on a member that is online now (pvecm nodes), never on the node itself.
      const remaining = quorum.members.find((m) => !m.local && !m.qdevice)?.name;
      const numbers = { votes, nodelist: quorum.nodelist, online: quorum.members.filter((m) => !m.qdevice).map((m) => m.name), qdevice: quorum.status.qdevice ?? null };
      runbook.detail(numbers);
      if (votes.refusals.length) throw failure('Refused', `refused to separate ${host} from ${cluster.name}:\n- ${votes.refusals.join('\n- ')}\nNothing was changed.`, numbers);
      if (!remaining) throw failure('Refused', `refused to separate ${host}: no other member of ${cluster.name} is online to run pvecm delnode. Nothing was changed.`, numbers);
      const guestFacts = await guests.preflight();
      // A guest that cannot migrate would leave the cluster with the node: the reboot's "shut down" is not an option here.
      const stuck = guests.drainSteps.filter((s) => /^(qm|pct) shutdown /.test(s.command.text));
      if (stuck.length) throw failure('Refused', `refused to separate ${host}: these guests cannot migrate (local storage) and would leave the cluster with it: ${stuck.map((s) => s.command.text).join('; ')}. Nothing was changed.`, guestFacts);
      const cephFacts = await summarized(readOnly.readCeph, `ceph osd tree, ceph osd pool ls: the OSDs of ${host} and what the pools need`)(host);
      const cephWhy = cephFacts ? cephRefusals(host, cephFacts) : [];
      if (cephWhy.length) throw failure('Refused', `refused to separate ${host}:\n- ${cephWhy.join('\n- ')}\nNothing was changed.`, cephFacts);
      const files = await summarized(readOnly.listCorosyncFiles, `ls /etc/corosync and /var/lib/corosync on ${host}`)(host);
      return { votes, remaining, files, ceph: cephFacts, facts: { ...numbers, guests: guestFacts, ceph: cephFacts } };
    });
    const { votes, remaining } = preflight;
    const backupDir = backupFolder(new Date(workflowInfo().startTime));
    const node = separationSteps({ host, remaining, backupDir, etcFiles: preflight.files.etc, varLibFiles: preflight.files.varLib });
    const osds = osdSteps(host, preflight.ceph);
    const daemons = daemonSteps(host, preflight.ceph);
    const order = [osds.flatMap((o) => [o.out, o.stop, o.destroy]), daemons, ...sequenceOf(host, node).map((s) => s.steps)] as const;

    const approved = await runbook.step('plan and approvals', async () => {
      const plan = showPlan({
        summary: `Take ${host} out of the Proxmox cluster ${cluster.name} (${request.reason}): votes ${votes.before.total}/${votes.before.expected} now, ${votes.after.total}/${votes.after.expected} after; delnode from ${remaining}`,
        steps: planOf([...guests.drainSteps, ...order.flat()]),
        facts: preflight.facts,
      });
      const rules = await summarized(readOnly.approvalPolicy, 'who approves nodeSeparation (the inventory\'s policy)')('nodeSeparation');
      return approvals.obtain({
        what: `approve taking ${host} out of ${cluster.name} (${request.reason}); see the "plan" query`, who: 'two approvers',
        plan, rules, requestedBy: request.requestedBy,
        timeout: request.approvalTimeout, remindAfter: request.approvalRemindAfter, escalateAfter: request.approvalEscalateAfter,
      });
    });

    // The cluster's membership changes and its nodes take the guests: the cluster and every node, as a rolling reboot does.
    await leases.take([clusterLease(cluster.name), ...cluster.hosts.map(hostLease)]);

    await runbook.step('move the guests to the other nodes', () => guests.drain());

    const walk = walker(runbook, people, ran, doneSoFar);
    if (osds.length) {
      await runbook.step('Ceph: each OSD out, drained, stopped, destroyed', () =>
        removeOsds({ host, steps: osds, people, runbook, every: request.pollInterval, within: request.osdDrainTimeout, walk, doneSoFar }));
    } else runbook.skip('Ceph: each OSD out, drained, stopped, destroyed', `${host} has no Ceph OSD`);
    if (daemons.length) await runbook.step('Ceph: the monitor and the manager destroyed', () => walk(daemons));
    else runbook.skip('Ceph: the monitor and the manager destroyed', `${host} has no Ceph monitor or manager`);
    await separate({ runbook, host, node, walk });

    const end = await runbook.step('the remaining cluster is quorate with the expected votes', () =>
      persist(people, { host: remaining, title: `pvecm status: quorate with ${votes.after.total} of ${votes.after.expected} votes`, doneSoFar }, () =>
        summarized(polling(request.pollInterval, request.upTimeout).expectVotes, `the cluster as ${remaining} sees it after delnode`)(remaining, { expected: votes.after.expected, total: votes.after.total })));
    const votesAtEnd = 'status' in end
      ? { expected: end.status.expectedVotes, total: end.status.totalVotes, quorate: end.status.quorate, nodes: end.nodelist }
      : { expected: 0, total: 0, quorate: false, nodes: [] };

    await condition(allHandlersFinished);
    return {
      host, cluster: cluster.name, remaining, approvals: approved, votes, votesAtEnd, cephDestroyed: [...osds.map((o) => `osd.${o.id}`), ...(preflight.ceph?.mon ? [`mon.${host}`] : []), ...(preflight.ceph?.mgr ? [`mgr.${host}`] : [])], backupDir, steps: ran,
      guests: guests.doneSoFar(), decisions: runbook.decisions, timeline: runbook.timeline,
    };
  } finally {
    await leases.giveBack();
  }
}
