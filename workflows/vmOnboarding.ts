/**
 * A member's VM on Ganeti (ganeti-member-vm-onboarding.txt, "Lorsqu'une demande de VM arrive sur la liste bureau@"):
 * the board approves, then the next REF-HOST-VM-N and a free IP of the members' subnet, `REF.zone A IP` in DNS, the
 * least-loaded node pair, `gnt-instance add` on the master, its VNC port, the member's jailed account on the primary
 * node (adduser, authorized_keys, the banner, a `Match User` block), the mail "Prévenir l'adhérent"; then, days or
 * weeks later, the member's "install done" and the boot order switched to the disk ("gnt-instance shutdown", "modify
 * -H boot_order=disk", "startup"), and a last mail.
 *
 * Safer than the page:
 * - nothing changes before a board member (never the requester) approved the plan: the member, the mail's verdict,
 *   the key's fingerprint, every command per host, built from the same steps that run;
 * - the IP is free in the cluster AND in DNS (a zone transfer), the DNS record is checked by a query, never overwritten;
 * - `gnt-instance add` runs as a detached job (a unit on the master): a worker that dies re-attaches, never adds twice;
 * - every change looks first (`done` / `already done`); files are written whole from stdin, never echoed by a shell;
 * - the `Match User` block goes before the `Match group` block (sshd keeps the first PermitOpen it reads), `sshd -t`
 *   checks the new file before the reload, a refused file is replaced by the copy, and a person decides;
 * - the tunnel command names the jailed account (`ssh -N -L P:localhost:P REF@HYP`), its only way in.
 */
import { allHandlersFinished, condition, setHandler, workflowInfo } from '@temporalio/workflow';
import type { JobStatus } from '../activities/jobs.js';
import type { Outcome } from '../activities/raid/activities.js';
import { firstFreeAddress, leastLoadedPair, nextReference } from '../common/addressing.js';
import { gnt, matchGroupBlock } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { InstallDoneAnswer, VmOnboardingInput, type ApprovalRecord } from '../common/inputs.js';
import { Approvals } from './approvals.js';
import { plannedJob, runDetached, type DetachedJob } from './detached.js';
import { hostLease, Leases } from './leases.js';
import { installDoneUpdate, planQuery, type DecisionRecord, type Plan } from './messages.js';
import { awaitInstallDone, mailTo, type SentMail } from './onboardingWait.js';
import { bannerText, bootsFromDiskMail, readyMail, type VmFacts } from './onboardingTexts.js';
import { People, refuseUpdate } from './people.js';
import { hostChange, readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { jailedAccessSteps, hostStep, MEMBERS_GROUP } from './jailedAccess.js';
import { planOf, runStep, type HostStep, type Skipped } from './steps.js';

export interface VmOnboardingResult {
  member: string;
  reference: string;
  ip: string;
  dnsName: string;
  instance: string;
  nodes: { primary: string; secondary: string };
  vncPort: number;
  approvedBy: ApprovalRecord[];
  installDoneBy: string;
  outcomes: Record<string, Outcome | Skipped | 'started' | 're-attached'>;
  mails: SentMail[];
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = [
  'preflight', "la référence et l'IP (adressage)", "l'hyperviseur le moins chargé", 'plan and approval',
  "l'enregistrement DNS", 'gnt-instance add', 'le port VNC', "l'utilisateur (adduser)", 'authorized_keys', 'la bannière',
  'le bloc Match User (sshd -t, reload)', "prévenir l'adhérent", "attendre la fin de l'installation",
  'gnt-instance shutdown', 'gnt-instance modify -H boot_order=disk', 'gnt-instance startup', 'le dernier mail',
] as const;
const GROUP = MEMBERS_GROUP;

export async function vmOnboarding(input: VmOnboardingInput): Promise<VmOnboardingResult> {
  const request = validInput(VmOnboardingInput, input);
  const runbook = new Runbook('vmOnboarding', STEPS);
  const people = new People(runbook).acceptsDecisions();
  const approvals = new Approvals(people, runbook);
  const leases = new Leases(runbook);
  let answerers: string[] = [];
  people.accepts(installDoneUpdate, InstallDoneAnswer, ({ by, mailFrom }) => {
    if (mailFrom && mailFrom.toLowerCase() !== request.member.toLowerCase()) refuseUpdate(`refused:\nmailFrom: the reply comes from ${mailFrom}, not from this run's member`);
    if (!answerers.includes(by)) refuseUpdate(`refused:\nby: only the member or an admin says the install is done (${answerers.join(', ')})`);
  });
  let plan: Plan | undefined;
  setHandler(planQuery, () => plan);
  const outcomes: VmOnboardingResult['outcomes'] = {};
  const mails: SentMail[] = [];
  const done: string[] = [];
  const doneSoFar = () => done.join('; ') || 'nothing changed';
  const record = <T extends VmOnboardingResult['outcomes'][string]>(what: string, outcome: T): T => {
    outcomes[what] = outcome;
    done.push(`${what}: ${typeof outcome === 'string' ? outcome : `skipped by ${outcome.by}`}`);
    return outcome;
  };
  try {
    const facts = await runbook.step('preflight', () => summarized(readOnly.onboardingFacts, `the member ${request.member}, their key, the members' cluster and address plan`)(request.member, request.sshKey));
    answerers = facts.answerers;
    const { master } = facts.cluster;
    runbook.hosts(facts.cluster.nodes);

    const found = await runbook.step("la référence et l'IP (adressage)", async () => {
      const instances = await summarized(readOnly.ganetiInstances, `gnt-instance list on ${master}`)(master);
      const inDns = await summarized(readOnly.zoneAddresses, `the A records of ${facts.zone} (zone transfer)`)();
      const ref = nextReference([...facts.refsInUse, ...instances.map((i) => i.name.toUpperCase())]);
      const ip = firstFreeAddress(facts.plan.network, facts.plan.reserved, [...instances.flatMap((i) => i.ips), ...inDns]);
      if (!ip) throw failure('Refused', `no free address in the members' subnet ${facts.plan.network}: ${instances.length} instances, ${inDns.length} A records, ${facts.plan.reserved.length} reserved; nothing was changed`);
      runbook.detail({ ref, ip });
      return { ref, ip };
    });
    const ref = found.ref;
    const user = ref.toLowerCase();
    const name = `${user}.${facts.zone}`;
    const vm = (vncPort: number): VmFacts => ({ ref, user, ip: found.ip, dnsName: name, hypervisor: nodes.primary, vncPort });

    const nodes = await runbook.step("l'hyperviseur le moins chargé", async () => {
      const rows = await summarized(readOnly.ganetiNodes, `gnt-node list on ${master}`)(master);
      const pair = leastLoadedPair(rows);
      if (!pair) throw failure('Refused', `cluster ${facts.cluster.name} has ${rows.length} node(s): a DRBD instance needs two; nothing was changed`);
      runbook.detail({ ...pair, nodes: rows });
      return pair;
    });
    const { primary, secondary } = nodes;
    const blocks = { group: matchGroupBlock(GROUP), user: `Match User ${user}\n` };
    const account = await summarized(readOnly.readJailedAccount, `the jailed account ${user} on ${primary}`)(primary, user, GROUP, blocks);
    if (account.gid === null || !account.groupBlockPresent) {
      throw failure('InvalidInput', `${primary} is not prepared for members' accounts (group ${GROUP} ${account.gid === null ? 'missing' : 'present'}, Match group block ${account.groupBlockPresent ? 'present' : 'missing'}): run ganetiHypervisorSetup on it first; nothing was changed`);
    }

    // The steps, built once: the plan shows them, the run runs them.
    let vncPort = 0;
    const addJob: DetachedJob = {
      host: master, step: 'gnt-instance-add', command: gnt.add({ name, ip: found.ip, pnode: primary, snode: secondary, diskGiB: request.diskGiB, os: request.os }),
      why: `"Créer la VM sur l'hyperviseur choisi": ${name} on ${primary}:${secondary}, as a detached job (disks, OS install: minutes)`, pollInterval: '2s',
    };
    const access = jailedAccessSteps({
      host: primary, user, gid: account.gid, key: facts.key, banner: () => bannerText(vm(vncPort)), vncPort: () => vncPort,
      runId: workflowInfo().workflowId, groupBlock: blocks.group,
    });
    const change = (command: HostStep['command'], want: { status?: string; bootOrder?: string }, why: string) =>
      hostStep(master, command, why, (c) => summarized(hostChange.ganetiInstanceChange, `${c.text} on ${master}`)(master, name, want, c));
    const bootSteps = [
      change(gnt.shutdown(name), { status: 'ADMIN_down' }, 'once the member says the install is done'),
      change(gnt.bootFromDisk(name), { bootOrder: 'disk' }, 'boot on the disk instead of the installer ISO'),
      change(gnt.startup(name), { status: 'running' }, 'the VM boots from its disk'),
    ] as const;

    plan = {
      summary: `A VM for the member ${facts.member.name} <${facts.member.email}>: ${ref}, ${found.ip}, ${name} on ${primary}:${secondary}`,
      steps: planOf([plannedJob(addJob), ...access.planned, ...bootSteps]),
      facts: {
        member: facts.member, mailVerdict: request.request?.verdict ?? `started by hand${request.requestedBy ? ` by ${request.requestedBy}` : ''}`,
        key: { type: facts.key.type, bits: facts.key.bits, fingerprint: facts.key.fingerprint }, reference: ref, ip: found.ip,
        dns: `${name}. A ${found.ip} (RFC 2136 update, TSIG)`, master, primary, secondary, diskGiB: request.diskGiB, os: request.os,
      },
    };
    const approvedBy = await runbook.step('plan and approval', async () => {
      const rules = await summarized(readOnly.approvalPolicy, 'who approves vmOnboarding (the inventory\'s policy)')('vmOnboarding');
      return approvals.obtain({
        what: `approve the VM of ${facts.member.name} (${ref}, ${found.ip}); see the "plan" query`, who: 'a board member', plan: plan!, rules,
        requestedBy: request.requestedBy ?? facts.member.name, timeout: request.approvalTimeout,
      });
    });

    await leases.take([hostLease(master), hostLease(primary)]);
    await runbook.step("l'enregistrement DNS", async () => {
      const dns = await summarized(hostChange.ensureARecord, `${name} A ${found.ip} (RFC 2136)`)({ label: ref, ip: found.ip });
      record('dns', dns.changed ? 'done' : 'already done');
    });

    const existing = (await summarized(readOnly.ganetiInstances, `gnt-instance list on ${master}`)(master)).find((i) => i.name === name);
    if (existing) {
      if (!existing.ips.includes(found.ip) || existing.pnode !== primary) throw failure('InvalidInput', `${name} exists already with ${existing.ips.join(',') || 'no IP'} on ${existing.pnode}, not ${found.ip} on ${primary}: a person must look; DNS record ${name} A ${found.ip} is in place`);
      record('gnt-instance add', 'already done');
      runbook.skip('gnt-instance add', `${name} is in the cluster already`);
    } else {
      const job = await runbook.step('gnt-instance add', () => runDetached(runbook, people, addJob, doneSoFar));
      record('gnt-instance add', (job as JobStatus).phase ? 'done' : (job as Skipped));
    }

    vncPort = await runbook.step('le port VNC', async () => {
      const port = (await summarized(readOnly.ganetiInstances, `gnt-instance list -o +network_port ${name}`)(master)).find((i) => i.name === name)?.networkPort;
      if (!port) throw failure('CommandFailed', `gnt-instance list shows no network_port for ${name}`);
      runbook.detail({ vncPort: port });
      return port;
    });

    record('adduser', await runbook.step("l'utilisateur (adduser)", () => runStep(people, access.addUser, doneSoFar)));
    record('authorized_keys', await runbook.step('authorized_keys', () => runStep(people, access.keys, doneSoFar)));
    record('banner', await runbook.step('la bannière', () => runStep(people, access.banner, doneSoFar)));
    record('Match User block', await runbook.step('le bloc Match User (sshd -t, reload)', () => runStep(people, access.writeBlock, doneSoFar)));
    await leases.giveBack();

    const replyTo = request.request?.messageId;
    await runbook.step("prévenir l'adhérent", () => mailTo(mails, facts.member, readyMail(facts.member.name, vm(vncPort), workflowInfo().workflowId), replyTo));

    const installDone = await runbook.step("attendre la fin de l'installation", () =>
      awaitInstallDone(people, { member: facts.member, vm: vm(vncPort), remindAfter: request.remindAfter, escalateAfter: request.escalateAfter, replyTo, mails }));

    await leases.take([hostLease(master)]);
    record('shutdown', await runbook.step('gnt-instance shutdown', () => runStep(people, bootSteps[0], doneSoFar)));
    record('boot_order=disk', await runbook.step('gnt-instance modify -H boot_order=disk', () => runStep(people, bootSteps[1], doneSoFar)));
    record('startup', await runbook.step('gnt-instance startup', () => runStep(people, bootSteps[2], doneSoFar)));
    await leases.giveBack();
    await runbook.step('le dernier mail', () => mailTo(mails, facts.member, bootsFromDiskMail(facts.member.name, vm(vncPort)), replyTo));

    await condition(allHandlersFinished);
    return {
      member: facts.member.email, reference: ref, ip: found.ip, dnsName: name, instance: name, nodes, vncPort, approvedBy,
      installDoneBy: installDone.by, outcomes, mails, decisions: runbook.decisions, timeline: runbook.timeline,
    };
  } finally {
    await leases.giveBack();
  }
}
