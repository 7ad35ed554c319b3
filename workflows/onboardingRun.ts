/**
 * What a member's VM onboarding does the same on Ganeti and on Proxmox: the board's approval of the plan, the DNS
 * record, the member's jailed account on the hypervisor (ganeti-member-vm-onboarding.txt: adduser, authorized_keys,
 * the banner, the `Match User` block), the mails, the wait for "install done", and the result. The platform
 * modules (onboardingGaneti.ts, onboardingProxmox.ts) run their own steps between these.
 */
import { allHandlersFinished, condition, workflowInfo } from '@temporalio/workflow';
import type { z } from 'zod';
import type { OnboardingFacts } from '../activities/onboarding.js';
import type { Outcome } from '../activities/raid/activities.js';
import { matchGroupBlock } from '../common/commands.js';
import { failure } from '../common/failures.js';
import type { ApprovalRecord, VmOnboardingInput } from '../common/inputs.js';
import type { Approvals } from './approvals.js';
import { jailedAccessSteps, MEMBERS_GROUP } from './jailedAccess.js';
import { hostLease, type Leases } from './leases.js';
import type { DecisionRecord, Plan } from './messages.js';
import { awaitInstallDone, mailTo, type SentMail } from './onboardingWait.js';
import { bannerText, bootsFromDiskMail, readyMail, type VmFacts } from './onboardingTexts.js';
import type { People } from './people.js';
import { hostChange, readOnly } from './proxies.js';
import { summarized, type Runbook } from './runbook.js';
import { runStep, type HostStep, type PlannedCommand, type Skipped } from './steps.js';

/** The steps both platforms share, as the Ganeti page names them. */
export const SHARED_STEPS = [
  'preflight', 'plan and approval', "l'enregistrement DNS", "l'utilisateur (adduser)", 'authorized_keys', 'la bannière',
  'le bloc Match User (sshd -t, reload)', "prévenir l'adhérent", "attendre la fin de l'installation", 'le dernier mail',
] as const;
export const GANETI_STEPS = [
  "la référence et l'IP (adressage)", "l'hyperviseur le moins chargé", 'gnt-instance add', 'le port VNC',
  'gnt-instance shutdown', 'gnt-instance modify -H boot_order=disk', 'gnt-instance startup',
] as const;
export const PROXMOX_STEPS = [
  'la capacité (Matériel)', "l'identifiant, la référence et l'IP (adressage)", 'qm create', 'Firewall → IPSet ipfilter-net0',
  "l'IP dans l'IPSet", 'Firewall → Options', "qm start (l'installateur)", 'qm shutdown', 'qm set --boot order=scsi0', 'qm start',
] as const;
export type OnboardingStep = (typeof SHARED_STEPS)[number] | (typeof GANETI_STEPS)[number] | (typeof PROXMOX_STEPS)[number];

export type OnboardingOutcome = Outcome | Skipped | 'started' | 're-attached';

export interface VmOnboardingResult {
  member: string;
  platform: 'ganeti' | 'proxmox';
  reference: string;
  ip: string;
  dnsName: string;
  /** The Ganeti instance's name, or the Proxmox VM's id and name ("2001 REF-VM-1"). */
  instance: string;
  nodes: { primary: string; secondary?: string };
  vncPort: number;
  approvedBy: ApprovalRecord[];
  installDoneBy: string;
  outcomes: Record<string, OnboardingOutcome>;
  mails: SentMail[];
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

/** One run's shared state: the platform module reads and adds to it. */
export class Onboarding {
  readonly outcomes: VmOnboardingResult['outcomes'] = {};
  readonly mails: SentMail[] = [];
  private readonly done: string[] = [];
  /** Set once the board approved the plan. */
  approvedBy: ApprovalRecord[] | undefined;

  constructor(
    readonly request: z.output<typeof VmOnboardingInput>,
    readonly facts: OnboardingFacts,
    readonly runbook: Runbook<OnboardingStep>,
    readonly people: People,
    readonly approvals: Approvals,
    readonly leases: Leases,
    /** What the `plan` query returns (kit.ts). */
    private readonly showPlan: (plan: Plan) => unknown,
  ) {}

  readonly doneSoFar = (): string => this.done.join('; ') || 'nothing changed';

  record<T extends OnboardingOutcome>(what: string, outcome: T): T {
    this.outcomes[what] = outcome;
    this.done.push(`${what}: ${typeof outcome === 'string' ? outcome : `skipped by ${outcome.by}`}`);
    return outcome;
  }

  /** Run a planned host step under its title, and record its outcome. */
  async change(title: OnboardingStep, what: string, step: HostStep<Outcome>): Promise<void> {
    this.record(what, await this.runbook.step(title, () => runStep(this.people, step, this.doneSoFar)));
  }

  /** The mail checks' verdict, as the approval shows it. */
  get verdict(): string {
    return this.request.request?.verdict ?? `started by hand${this.request.requestedBy ? ` by ${this.request.requestedBy}` : ''}`;
  }

  /** The board approves the whole plan (a board member, never the requester). */
  approve(plan: Plan, what: string): Promise<ApprovalRecord[]> {
    this.showPlan(plan);
    return this.runbook.step('plan and approval', async () => {
      const rules = await summarized(readOnly.approvalPolicy, 'who approves vmOnboarding (the inventory\'s policy)')('vmOnboarding');
      return (this.approvedBy = await this.approvals.obtain({
        what, who: 'a board member', plan, rules,
        requestedBy: this.request.requestedBy ?? this.facts.member.name, timeout: this.request.approvalTimeout,
      }));
    });
  }
}

/** The member's account on `host`, steps built once for the plan and the run; refused where the host is not prepared. */
export async function memberAccess(o: Onboarding, host: string, user: string, vm: () => VmFacts) {
  const blocks = { group: matchGroupBlock(MEMBERS_GROUP), user: `Match User ${user}\n` };
  const account = await summarized(readOnly.readJailedAccount, `the jailed account ${user} on ${host}`)(host, user, MEMBERS_GROUP, blocks);
  if (account.gid === null || !account.groupBlockPresent) {
    throw failure('InvalidInput', `${host} is not prepared for members' accounts (group ${MEMBERS_GROUP} ${account.gid === null ? 'missing' : 'present'}, Match group block ${account.groupBlockPresent ? 'present' : 'missing'}): run ganetiHypervisorSetup on it first; nothing was changed`);
  }
  return jailedAccessSteps({
    host, user, gid: account.gid, key: o.facts.key, banner: () => bannerText(vm()), vncPort: () => vm().vncPort,
    runId: workflowInfo().workflowId, groupBlock: blocks.group,
  });
}

export type MemberAccess = Awaited<ReturnType<typeof memberAccess>>;

/** The DNS record `REF.zone A IP` (RFC 2136, TSIG), checked by a query; never overwritten. */
export async function dnsRecord(o: Onboarding, ref: string, name: string, ip: string): Promise<void> {
  await o.runbook.step("l'enregistrement DNS", async () => {
    const dns = await summarized(hostChange.ensureARecord, `${name} A ${ip} (RFC 2136)`)({ label: ref, ip });
    o.record('dns', dns.changed ? 'done' : 'already done');
  });
}

/** adduser, authorized_keys, the banner, the `Match User` block: in the page's order. */
export async function makeAccess(o: Onboarding, access: MemberAccess): Promise<void> {
  await o.change("l'utilisateur (adduser)", 'adduser', access.addUser);
  await o.change('authorized_keys', 'authorized_keys', access.keys);
  await o.change('la bannière', 'banner', access.banner);
  await o.change('le bloc Match User (sshd -t, reload)', 'Match User block', access.writeBlock);
}

/** "Prévenir l'adhérent", then wait (days, weeks) for the member's "install done" or an admin's. */
async function tellAndWait(o: Onboarding, vm: VmFacts): Promise<string> {
  const replyTo = o.request.request?.messageId;
  await o.runbook.step("prévenir l'adhérent", () => mailTo(o.mails, o.facts.member, readyMail(o.facts.member.name, vm, workflowInfo().workflowId), replyTo));
  const installDone = await o.runbook.step("attendre la fin de l'installation", () =>
    awaitInstallDone(o.people, { member: o.facts.member, vm, remindAfter: o.request.remindAfter, escalateAfter: o.request.escalateAfter, replyTo, mails: o.mails }));
  return installDone.by;
}

/** A platform's step to boot from the disk: its title, what the result calls it, the planned step. */
export type BootStep = readonly [OnboardingStep, string, HostStep<Outcome>];

/**
 * Once the VM and the member's access are made: the hosts' leases given back for the wait (days, weeks), the
 * member told and waited for, then `host`'s lease again for the platform's steps to boot from the disk, in order,
 * and the last mail.
 */
export async function installThenBoot(o: Onboarding, vm: VmFacts, host: string, bootSteps: readonly BootStep[], r: Pick<VmOnboardingResult, 'platform' | 'instance' | 'nodes' | 'approvedBy'>): Promise<VmOnboardingResult> {
  await o.leases.giveBack();
  const installDoneBy = await tellAndWait(o, vm);
  await o.leases.take([hostLease(host)]);
  for (const [title, what, step] of bootSteps) await o.change(title, what, step);
  await o.leases.giveBack();
  return finish(o, vm, { ...r, installDoneBy });
}

/** The last mail, and the result once every Update handler has answered. */
async function finish(o: Onboarding, vm: VmFacts, r: Pick<VmOnboardingResult, 'platform' | 'instance' | 'nodes' | 'approvedBy' | 'installDoneBy'>): Promise<VmOnboardingResult> {
  await o.runbook.step('le dernier mail', () => mailTo(o.mails, o.facts.member, bootsFromDiskMail(o.facts.member.name, vm), o.request.request?.messageId));
  await condition(allHandlersFinished);
  return {
    member: o.facts.member.email, reference: vm.ref, ip: vm.ip, dnsName: vm.dnsName, vncPort: vm.vncPort, ...r,
    outcomes: o.outcomes, mails: o.mails, decisions: o.runbook.decisions, timeline: o.runbook.timeline,
  };
}

export type { PlannedCommand };
