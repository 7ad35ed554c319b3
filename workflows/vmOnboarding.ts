/**
 * A member's VM: on Ganeti (ganeti-member-vm-onboarding.txt, onboardingGaneti.ts) or on Proxmox
 * (proxmox-faimaison-vm-creation-and-planned-reboot.txt, "Création de VMs", onboardingProxmox.ts), whichever the
 * inventory's memberVms says serves members. One workflow type for both: the mail intake, the CLI and the UI start
 * it, and the member's reply in the request's thread finds it by its id.
 *
 * Safer than the pages (both platforms; each module says what more):
 * - nothing changes before a board member (never the requester) approved the plan: the member, the mail's verdict,
 *   the key's fingerprint, every command per host, built from the same steps that run;
 * - every change looks first (`done` / `already done`); files are written whole from stdin, never echoed by a shell;
 * - the `Match User` block goes before the `Match group` block (sshd keeps the first PermitOpen it reads), `sshd -t`
 *   checks the new file before the reload, a refused file is replaced by the copy, and a person decides.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { failure } from '../common/failures.js';
import { InstallDoneAnswer, VmOnboardingInput } from '../common/inputs.js';
import { openRunbook } from './kit.js';
import { installDoneUpdate } from './messages.js';
import { onGaneti } from './onboardingGaneti.js';
import { onProxmox } from './onboardingProxmox.js';
import { GANETI_STEPS, Onboarding, PROXMOX_STEPS, SHARED_STEPS, type OnboardingStep, type VmOnboardingResult } from './onboardingRun.js';
import { refuseUpdate } from './people.js';
import { readOnly } from './proxies.js';
import { summarized, validInput } from './runbook.js';

export type { VmOnboardingResult } from './onboardingRun.js';

export async function vmOnboarding(input: VmOnboardingInput): Promise<VmOnboardingResult> {
  const request = validInput(VmOnboardingInput, input);
  const { runbook, people, approvals, leases, showPlan } = openRunbook<OnboardingStep>('vmOnboarding', [...SHARED_STEPS, ...GANETI_STEPS], { approvals: true, decisions: true });
  let answerers: string[] = [];
  people.accepts(installDoneUpdate, InstallDoneAnswer, ({ by, mailFrom }) => {
    if (mailFrom && mailFrom.toLowerCase() !== request.member.toLowerCase()) refuseUpdate(`refused:\nmailFrom: the reply comes from ${mailFrom}, not from this run's member`);
    if (!answerers.includes(by)) refuseUpdate(`refused:\nby: only the member or an admin says the install is done (${answerers.join(', ')})`);
  });
  let onboarding: Onboarding | undefined;
  try {
    const facts = await runbook.step('preflight', () => summarized(readOnly.onboardingFacts, `the member ${request.member}, their key, the members' cluster and address plan`)(request.member, request.sshKey));
    answerers = facts.answerers;
    runbook.hosts(facts.cluster.nodes);
    const platform = facts.plan.platform;
    if (request.platform && request.platform !== platform) throw failure('InvalidInput', `invalid input:\nplatform: the members' VMs are on ${platform} (the inventory's memberVms), not ${request.platform}`);
    runbook.plannedSteps(SHARED_STEPS.length + (platform === 'proxmox' ? PROXMOX_STEPS : GANETI_STEPS).length);
    onboarding = new Onboarding(request, facts, runbook, people, approvals, leases, showPlan);
    return await (platform === 'proxmox' ? onProxmox(onboarding) : onGaneti(onboarding));
  } catch (error) {
    // The request's board was told a plan awaits their approval: a run refused before it says why.
    const refusal = error instanceof ActivityFailure ? error.cause : error;
    if (request.request && !onboarding?.approvedBy && refusal instanceof ApplicationFailure && (refusal.type === 'Refused' || refusal.type === 'InvalidInput')) {
      await summarized(readOnly.mailBoard, `mail the board: the VM request of ${request.member} refused`)({
        runbook: 'vmOnboarding',
        subject: `VM request of ${request.member}: refused before its plan`,
        text: [`The onboarding run of ${request.member} stopped before its plan was shown, and changed nothing on any host:`, '', refusal.message].join('\n'),
      });
    }
    throw error;
  } finally {
    await leases.giveBack();
  }
}
