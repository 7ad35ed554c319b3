/**
 * "Démonter notre cluster Proxmox" (proxmox-ceph-cluster-build-and-teardown.txt), for every node: the whole
 * cluster, its Ceph and its QDevice, taken apart down to standalone nodes.
 *
 *   pveceph pool destroy ceph-pool                           « Suppression du pool »
 *   ceph osd out ID; systemctl stop ceph-osd@ID.service      « Suppression d'OSD », every node's
 *   pveceph mon destroy; pveceph mgr destroy                 « Suppression de manager »
 *   pvecm qdevice remove
 *   then on each node the page's sequence (nodeSeparation's steps), `pvecm delnode NODE` from the node that stays
 *
 * Safer than the page:
 *   - a read-only preflight over every node refuses, with the list, when a guest disk lives on a Ceph pool (a
 *     pool is destroyed only when no guest disk uses it), when a node is offline or the cluster not quorate;
 *   - one plan, every command per host, approved once by two people (the inventory's policy) before any change;
 *   - OSDs leave only after `ok-to-stop` and `safe-to-destroy`; a monitor only while the others keep a majority, a
 *     manager while another stands by: the node that stays last keeps Ceph's last ones (see teardownSteps.keeper);
 *   - the QDevice goes while every node still votes; the page's two-node case is spelled out: with the QDevice
 *     gone, the node that stays has 1 of 2 votes once the other stops corosync, and `pvecm delnode` needs quorum,
 *     so `pvecm expected 1` gives it back first (pve-docs, "Separate a Node Without Reinstalling");
 *   - the last node is separated too (the page stops at delnode, leaving a cluster of one): its configuration is
 *     copied then removed like the others', and `pvecm status` must say it is part of no cluster;
 *   - every step looks first (a retry finds it done); a step that fails for good asks a person and mails the admins.
 */
import { allHandlersFinished, condition, workflowInfo } from '@temporalio/workflow';
import { failure } from '../common/failures.js';
import { ClusterTeardownInput, type ApprovalRecord } from '../common/inputs.js';
import { daemonSteps, removeOsds } from './cephSteps.js';
import { openRunbook } from './kit.js';
import { clusterLease, hostLease } from './leases.js';
import type { DecisionRecord } from './messages.js';
import { backupFolder } from './nodeSeparation.js';
import { readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { separate, SEPARATION_TITLES, sequenceOf } from './separationSteps.js';
import { outcomeText, persist, planOf, walker, type RanStep } from './steps.js';
import { keeper, nodeTeardowns, poolsOf, poolSteps, poolUsers, qdeviceSteps, type NodeFacts } from './teardownSteps.js';

export interface ClusterTeardownResult {
  cluster: string;
  /** The nodes, standalone now, in the order they left; the last one ran every delnode. */
  nodes: string[];
  approvals: ApprovalRecord[];
  poolsDestroyed: string[];
  qdeviceRemoved: boolean;
  /** OSDs, monitors and managers destroyed; and the last monitor and manager, kept (Ceph cannot remove its only ones). */
  cephDestroyed: string[];
  cephKept: string[];
  backupDir: string;
  /** What `pvecm status` says on each node at the end. */
  standalone: Record<string, string>;
  steps: RanStep[];
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = [
  'preflight: every node, its guests, the QDevice, the Ceph daemons',
  'plan and approvals',
  'Ceph: the pools destroyed (no guest disk on them)',
  'Ceph: every node\'s OSDs out, drained, stopped, destroyed',
  'Ceph: the monitors and managers destroyed',
  'remove the QDevice',
  ...SEPARATION_TITLES,
  'every node is standalone',
] as const;
type Title = (typeof STEPS)[number];

export async function clusterTeardown(input: ClusterTeardownInput): Promise<ClusterTeardownResult> {
  const request = validInput(ClusterTeardownInput, input);
  const { runbook, people, approvals, leases, showPlan } = openRunbook<string>('clusterTeardown', STEPS, { cluster: request.cluster, approvals: true, decisions: true });
  const step = (title: Title, body: () => Promise<unknown>) => runbook.step(title, body);
  try {
    const ran: RanStep[] = [];
    const doneSoFar = () => ran.map((s) => `${s.host}: ${s.command} (${s.outcome})`).join('; ') || 'nothing changed';
    const walk = walker(runbook, people, ran, doneSoFar);

    const cluster = await summarized(readOnly.lookUpCluster, `look up ${request.cluster} in the inventory`)(request.cluster);
    if (cluster.kind !== 'proxmox') throw failure('InvalidInput', `invalid input:\ncluster: ${cluster.name} is a ${cluster.kind} cluster; clusterTeardown takes a Proxmox cluster apart`);

    const preflight = await runbook.step(STEPS[0], async () => {
      const [first] = cluster.hosts as [string];
      const quorum = await summarized(readOnly.readQuorum, `pvecm status, pvecm nodes, corosync.conf: the cluster as ${first} sees it`)(first);
      const online = quorum.members.filter((m) => !m.qdevice).map((m) => m.name);
      const why = [
        ...(quorum.status.quorate ? [] : [`the cluster is not quorate: ${quorum.status.totalVotes} of ${quorum.status.expectedVotes} expected votes`]),
        ...quorum.nodelist.filter((h) => !cluster.hosts.includes(h)).map((h) => `${h} is in corosync.conf's nodelist but not in the inventory's ${cluster.name}`),
        ...cluster.hosts.filter((h) => !quorum.nodelist.includes(h)).map((h) => `${h} is in the inventory's ${cluster.name} but not in corosync.conf's nodelist`),
        ...quorum.nodelist.filter((h) => !online.includes(h)).map((h) => `${h} is not online (pvecm nodes): the page's sequence runs on every node`),
      ];
      if (why.length) throw failure('Refused', `refused to take ${cluster.name} apart:\n- ${why.join('\n- ')}\nNothing was changed.`, quorum);
      const nodes: NodeFacts[] = [];
      for (const host of quorum.nodelist) {
        const facts = await summarized(readOnly.readClusterFacts, `pvesh, qm/pct config: the guests of ${host} and their disks`)(host);
        const ceph = await summarized(readOnly.readCeph, `ceph osd tree, ceph mon dump, ceph mgr dump: the Ceph daemons of ${host}`)(host);
        const files = await summarized(readOnly.listCorosyncFiles, `ls /etc/corosync and /var/lib/corosync on ${host}`)(host);
        nodes.push({ host, guests: facts.guests.filter((g) => g.node === host), ceph, files });
      }
      const users = poolUsers(nodes);
      const facts = { nodelist: quorum.nodelist, qdevice: quorum.status.qdevice ?? null, pools: poolsOf(nodes), nodes };
      runbook.detail(facts);
      if (users.length) throw failure('Refused', `refused to take ${cluster.name} apart: these guest disks live on a Ceph pool the teardown would destroy (move or remove them first):\n- ${users.join('\n- ')}\nNothing was changed.`, facts);
      return { ...facts, qdeviceVotes: quorum.status.qdevice?.votes ?? 0 };
    });

    const backupDir = backupFolder(new Date(workflowInfo().startTime));
    const last = keeper(preflight.nodelist, preflight.nodes);
    const pools = poolSteps(preflight.nodes);
    const nodes = nodeTeardowns({ nodelist: preflight.nodelist, nodes: preflight.nodes, backupDir });
    const qdevice = qdeviceSteps(last, preflight.qdeviceVotes);
    const lastFacts = preflight.nodes.find((n) => n.host === last)?.ceph ?? null;
    const cephKept = daemonSteps(last, lastFacts).map((s) => s.command.text.replace(/^pveceph (mon|mgr) destroy /, '$1.'));
    // The headings before and after the nodes' once, the page's sequence once per node.
    runbook.plannedSteps(STEPS.length + (nodes.length - 1) * SEPARATION_TITLES.length);
    const order = [
      pools, nodes.flatMap((n) => n.osds.flatMap((o) => [o.out, o.stop, o.destroy])), nodes.flatMap((n) => n.daemons), qdevice,
      ...nodes.flatMap((n) => sequenceOf(n.host, n.separation).map((s) => s.steps)),
    ];

    const approved = await runbook.step(STEPS[1], async () => {
      const plan = showPlan({
        summary: `Take the Proxmox cluster ${cluster.name} apart (${request.reason}): ${preflight.pools.length ? `pools ${preflight.pools.join(', ')} destroyed, ` : ''}every OSD, ${preflight.qdevice ? 'the QDevice removed, ' : ''}then ${nodes.map((n) => n.host).join(', ')} separated in that order; ${last} runs delnode and ends standalone${cephKept.length ? `, keeping ${cephKept.join(' and ')}` : ''}`,
        steps: planOf(order.flat()),
        facts: preflight,
      });
      const rules = await summarized(readOnly.approvalPolicy, 'who approves clusterTeardown (the inventory\'s policy)')('clusterTeardown');
      return approvals.obtain({
        what: `approve taking ${cluster.name} apart (${request.reason}); see the "plan" query`, who: 'two approvers',
        plan, rules, requestedBy: request.requestedBy,
        timeout: request.approvalTimeout, remindAfter: request.approvalRemindAfter, escalateAfter: request.approvalEscalateAfter,
      });
    });

    await leases.take([clusterLease(cluster.name), ...cluster.hosts.map(hostLease)]);

    if (pools.length) await step(STEPS[2], () => walk(pools));
    else runbook.skip(STEPS[2], `${cluster.name} has no Ceph pool`);
    const osds = nodes.filter((n) => n.osds.length);
    if (osds.length) {
      await step(STEPS[3], async () => {
        for (const n of osds) await removeOsds({ host: n.host, steps: n.osds, people, runbook, every: request.pollInterval, within: request.osdDrainTimeout, walk, doneSoFar });
      });
    } else runbook.skip(STEPS[3], `${cluster.name} has no Ceph OSD`);
    const daemons = nodes.flatMap((n) => n.daemons);
    if (daemons.length) await step(STEPS[4], () => walk(daemons));
    else runbook.skip(STEPS[4], 'no Ceph monitor or manager to destroy');
    if (qdevice.length) await step(STEPS[5], () => walk(qdevice));
    else runbook.skip(STEPS[5], `${cluster.name} has no QDevice`);
    for (const n of nodes) await separate({ runbook, host: n.host, node: n.separation, walk, title: (heading) => `${heading} (${n.host})` });

    const standalone: Record<string, string> = {};
    await step(STEPS.at(-1)!, async () => {
      for (const n of nodes) {
        const said = await persist(people, { host: n.host, title: `pvecm status on ${n.host}: part of no cluster`, doneSoFar }, () =>
          summarized(readOnly.expectStandalone, `pvecm status on ${n.host}: standalone`)(n.host));
        standalone[n.host] = outcomeText(said);
      }
    });

    await condition(allHandlersFinished);
    return {
      cluster: cluster.name, nodes: nodes.map((n) => n.host), approvals: approved, poolsDestroyed: preflight.pools, qdeviceRemoved: qdevice.length > 0,
      cephDestroyed: [
        ...nodes.flatMap((n) => n.osds.map((o) => `osd.${o.id}`)),
        ...nodes.flatMap((n) => n.daemons.map((s) => s.command.text.replace(/^pveceph (mon|mgr) destroy /, '$1.'))),
      ],
      cephKept, backupDir, standalone, steps: ran, decisions: runbook.decisions, timeline: runbook.timeline,
    };
  } finally {
    await leases.giveBack();
  }
}
