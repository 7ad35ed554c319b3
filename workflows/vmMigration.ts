/**
 * A member's VM moved to another Ganeti node (ganeti-member-vm-onboarding.txt, "La migration d'une VM"):
 * `gnt-instance migrate -n $NEW_NODE` on the master, then the member's jailed access on the new hypervisor and
 * `$PRIMARY_NODE` updated in /home/REF/banner, and a mail to the member with the new tunnel command.
 *
 * Safer than the page:
 * - nothing changes before the plan (every command per host, from the same steps that run) is approved, under the
 *   inventory's policy; a target that is not a node of the cluster, not the instance's DRBD secondary, or an
 *   instance that does not run is refused before anything changes, with what was found;
 * - the migrate runs only if the instance is not on the target already (a retry finds it done);
 * - the member's access on the new primary is made as vmOnboarding makes it (its very steps: user, the key copied
 *   from the old node's account, the banner naming the new hypervisor, the `Match User` block with `sshd -t` before
 *   any reload, a refused file put back); the old node's banner names the new hypervisor too (the page's update);
 * - a step that fails for good asks a person and mails the admins, never a half-moved member in silence.
 */
import { allHandlersFinished, condition, workflowInfo } from '@temporalio/workflow';
import type { Outcome } from '../activities/raid/activities.js';
import { gnt, matchGroupBlock } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { VmMigrationInput, type ApprovalRecord } from '../common/inputs.js';
import { bannerStep, hostStep, jailedAccessSteps, MEMBERS_GROUP } from './jailedAccess.js';
import { openRunbook } from './kit.js';
import { hostLease } from './leases.js';
import type { DecisionRecord } from './messages.js';
import { bannerText, movedMail, type VmFacts } from './onboardingTexts.js';
import { mailTo, type SentMail } from './onboardingWait.js';
import { hostChange, readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { outcomeText, planOf, runStep, type Skipped } from './steps.js';

export interface VmMigrationResult {
  instance: string;
  from: string;
  to: string;
  vncPort: number;
  approvedBy: ApprovalRecord[];
  outcomes: Record<string, Outcome | Skipped>;
  mails: SentMail[];
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = [
  'preflight', 'plan and approval', 'gnt-instance migrate', "l'utilisateur (adduser)", 'authorized_keys', 'la bannière',
  'le bloc Match User (sshd -t, reload)', "la bannière de l'ancien hyperviseur", "prévenir l'adhérent",
] as const;

export async function vmMigration(input: VmMigrationInput): Promise<VmMigrationResult> {
  const request = validInput(VmMigrationInput, input);
  const { runbook, people, approvals, leases, showPlan } = openRunbook('vmMigration', STEPS, { approvals: true, decisions: true });
  const outcomes: VmMigrationResult['outcomes'] = {};
  const mails: SentMail[] = [];
  const doneSoFar = () => Object.entries(outcomes).map(([what, o]) => `${what}: ${outcomeText(o)}`).join('; ') || 'nothing changed';
  const target = request.targetNode;
  const ref = request.instance.split('.')[0]!.toUpperCase();
  const user = ref.toLowerCase();
  const blocks = { group: matchGroupBlock(MEMBERS_GROUP), user: `Match User ${user}\n` };
  try {
    const found = await runbook.step('preflight', async () => {
      const facts = await summarized(readOnly.migrationFacts, `the member of ${ref}, the members' cluster`)(ref);
      const { master, nodes } = facts.cluster;
      const name = `${user}.${facts.zone}`;
      const none = 'nothing was changed';
      if (!nodes.includes(target)) throw failure('Refused', `${target} is not a node of cluster ${facts.cluster.name} (${nodes.join(', ')}); ${none}`);
      const vm = (await summarized(readOnly.ganetiInstances, `gnt-instance list on ${master}`)(master)).find((i) => i.name === name);
      if (!vm) throw failure('Refused', `${name} is not in cluster ${facts.cluster.name} (gnt-instance list on ${master}); ${none}`);
      if (vm.pnode !== target && vm.snodes[0] !== target) throw failure('Refused', `${name} runs on ${vm.pnode} with its DRBD secondary on ${vm.snodes.join(',') || 'none'}: a migration goes to the secondary only, not to ${target}; ${none}`);
      if (vm.pnode !== target && vm.status !== 'running') throw failure('Refused', `${name} is ${vm.status}: only a running instance migrates; ${none}`);
      if (!vm.networkPort) throw failure('CommandFailed', `gnt-instance list shows no network_port for ${name}`);
      // After a migration already made (a retry), the old primary is the secondary.
      const from = vm.pnode === target ? vm.snodes[0]! : vm.pnode;
      const old = await summarized(readOnly.readJailedAccount, `the jailed account ${user} on ${from}`)(from, user, MEMBERS_GROUP, blocks);
      const next = await summarized(readOnly.readJailedAccount, `the jailed account ${user} on ${target}`)(target, user, MEMBERS_GROUP, blocks);
      const keys = old.authorizedKeys ?? next.authorizedKeys;
      if (!keys?.trim()) throw failure('Refused', `${user} has no authorized_keys on ${from} nor ${target}: no member's access to move; ${none}`);
      if (next.gid === null || !next.groupBlockPresent) throw failure('Refused', `${target} is not prepared for members' accounts (group ${MEMBERS_GROUP} ${next.gid === null ? 'missing' : 'present'}, Match group block ${next.groupBlockPresent ? 'present' : 'missing'}): run ganetiHypervisorSetup on it first; ${none}`);
      runbook.detail({ instance: name, from, to: target, vncPort: vm.networkPort });
      return { facts, master, name, from, gid: next.gid, keys: keys.trimEnd(), vm: { ...vm, networkPort: vm.networkPort } };
    });
    const { facts, master, name, from, vm } = found;
    runbook.hosts([master, from, target]);
    const moved: VmFacts = { ref, user, ip: vm.ips[0] ?? '', dnsName: name, hypervisor: target, vncPort: vm.networkPort };

    // The steps, built once: the plan shows them, the run runs them.
    const migrate = hostStep(master, gnt.migrate(name, target), `the page's migration: ${name} from ${from} to ${target} (DRBD: they swap primary and secondary)`,
      (c) => summarized(hostChange.ganetiInstanceChange, `${c.text} on ${master}`)(master, name, { pnode: target }, c));
    const access = jailedAccessSteps({
      host: target, user, gid: found.gid, key: { line: found.keys, fingerprint: `copied from ${user}'s account on ${from}` }, banner: () => bannerText(moved),
      vncPort: () => moved.vncPort, runId: workflowInfo().workflowId, groupBlock: blocks.group,
    });
    const oldBanner = bannerStep(from, user, () => bannerText(moved), `the page: "mettre à jour le $PRIMARY_NODE dans /home/${user}/banner": it names ${target} now`);
    const plan = showPlan({
      summary: `Move ${name} (${facts.member.name}) from ${from} to ${target}: ${request.reason}`,
      steps: planOf([migrate, ...access.planned, oldBanner]),
      facts: { member: facts.member, instance: name, from, to: target, vncPort: vm.networkPort, master, reason: request.reason },
    });
    const approvedBy = await runbook.step('plan and approval', async () => {
      const rules = await summarized(readOnly.approvalPolicy, 'who approves vmMigration (the inventory\'s policy)')('vmMigration');
      return approvals.obtain({
        what: `approve moving ${name} from ${from} to ${target}; see the "plan" query`, who: 'an approver', plan, rules,
        requestedBy: request.requestedBy ?? 'unknown', timeout: request.approvalTimeout,
      });
    });

    await leases.take([hostLease(master), hostLease(from), hostLease(target)]);
    const record = async (what: string, step: (typeof STEPS)[number], run: () => Promise<Outcome | Skipped>) => { outcomes[what] = await runbook.step(step, run); };
    await record('gnt-instance migrate', 'gnt-instance migrate', () => runStep(people, migrate, doneSoFar));
    await record('adduser', "l'utilisateur (adduser)", () => runStep(people, access.addUser, doneSoFar));
    await record('authorized_keys', 'authorized_keys', () => runStep(people, access.keys, doneSoFar));
    await record('banner', 'la bannière', () => runStep(people, access.banner, doneSoFar));
    await record('Match User block', 'le bloc Match User (sshd -t, reload)', () => runStep(people, access.writeBlock, doneSoFar));
    await record('old banner', "la bannière de l'ancien hyperviseur", () => runStep(people, oldBanner, doneSoFar));
    await leases.giveBack();

    await runbook.step("prévenir l'adhérent", () => mailTo(mails, facts.member, movedMail(facts.member.name, moved, from), undefined, 'vmMigration'));
    await condition(allHandlersFinished);
    return { instance: name, from, to: target, vncPort: vm.networkPort, approvedBy, outcomes, mails, decisions: runbook.decisions, timeline: runbook.timeline };
  } finally {
    await leases.giveBack();
  }
}
