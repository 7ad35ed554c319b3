/**
 * A member's VM request as the mail intake judged it: the verdict recorded (authenticated member, or unverified
 * and why, or refused and why), the key's fingerprint, the board mailed, and a member who sent a private key told
 * to revoke it. No host is touched here. An ok request starts its vmOnboarding run (a child with an id from the
 * request's, so a retried or replayed request starts none twice; abandoned: it outlives this run by weeks), which
 * waits for the board's approval before anything changes.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, WorkflowIdReusePolicy, allHandlersFinished, condition, startChild } from '@temporalio/workflow';
import type { MailResult } from '../activities/mail.js';
import { VmRequestInput } from '../common/requests.js';
import { readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { vmOnboarding } from './vmOnboarding.js';

type RequestMail = VmRequestInput;

export interface VmRequestResult {
  verdict: RequestMail['verdict'];
  reasons: string[];
  from?: RequestMail['from'];
  member?: RequestMail['member'];
  auth: RequestMail['auth'];
  key?: { type: string; bits: number; fingerprint: string };
  messageId: string;
  /** The vmOnboarding run an ok request started (or found started). */
  onboarding?: { workflowId: string; started: boolean };
  mails: { to: string; subject: string; sent: boolean }[];
  timeline: Runbook['timeline'];
}

const STEPS = ['record the verdict', 'tell the member to revoke the key', 'start the onboarding', 'mail the board'] as const;

/** The onboarding run of a request: vm-request-<hex> → vm-onboarding-<hex>. */
export const onboardingWorkflowId = (requestWorkflowId: string) => requestWorkflowId.replace(/^vm-request-/, 'vm-onboarding-');

const VERDICT_TEXT = {
  ok: 'ok: an authenticated member with a valid SSH public key',
  unverified: 'UNVERIFIED: the sender is not proven to be a member (nothing will be done without a person checking)',
  refused: 'REFUSED: the request cannot be used as it is',
} as const;

/** The request as the board reads it: every value here went through the intake's checks (single lines, bounded). */
export function requestSummary(r: RequestMail): string {
  return [
    `From: ${r.from ? `${r.from.name ? `${r.from.name} ` : ''}<${r.from.address}>` : '(no usable sender)'}`,
    `Member: ${r.member ? `${r.member.name}${r.member.ref ? ` (${r.member.ref})` : ''}` : 'not in the member list'}`,
    `Subject: ${r.subject || '(none)'}`,
    `Message-ID: ${r.messageId || '(none)'}`,
    `Mail checks: DKIM ${r.auth.dkim}; SPF ${r.auth.spf}; DMARC ${r.auth.dmarc}`,
    `SSH key: ${r.key ? `${r.key.type} (${r.key.bits} bits) ${r.key.fingerprint}` : 'none accepted'}`,
    `Verdict: ${VERDICT_TEXT[r.verdict]}`,
    ...r.reasons.map((reason) => `  - ${reason}`),
  ].join('\n');
}

export async function vmRequest(input: VmRequestInput): Promise<VmRequestResult> {
  const request = validInput(VmRequestInput, input);
  const runbook = new Runbook('vmRequest', STEPS);
  const mails: VmRequestResult['mails'] = [];
  const sent = (to: string, subject: string, result: MailResult) => mails.push({ to, subject, sent: result.sent });

  await runbook.step('record the verdict', async () => {
    runbook.detail({ verdict: request.verdict, reasons: request.reasons, fingerprint: request.key?.fingerprint, from: request.from?.address });
  });

  if (request.privateKeySent && request.member) {
    const member = request.member;
    await runbook.step('tell the member to revoke the key', async () => {
      const subject = 'Your VM request: you sent a PRIVATE SSH key, revoke it';
      const result = await summarized(readOnly.mailMember, `mail ${member.email}: revoke the private key`)({
        to: member.email,
        inReplyTo: request.messageId,
        runbook: 'vmRequest',
        subject,
        text: [
          `Hello ${member.name},`,
          '',
          'Your VM request held a PRIVATE SSH key. Anyone who read that mail can now log in wherever this key is trusted:',
          'consider it compromised. Remove it from every authorized_keys file it is in, make a new key pair',
          '(ssh-keygen -t ed25519), and send us the PUBLIC key only: the file ending in .pub.',
          '',
          'Your request was not passed on.',
        ].join('\n'),
      });
      sent(member.email, subject, result);
    });
  } else {
    runbook.skip('tell the member to revoke the key', request.privateKeySent ? 'the sender is not a listed member' : 'no private key in the mail');
  }

  let onboarding: VmRequestResult['onboarding'];
  if (request.verdict === 'ok') {
    const member = request.member!;
    const key = request.key!;
    onboarding = await runbook.step('start the onboarding', async () => {
      const workflowId = onboardingWorkflowId(request.workflowId);
      try {
        await startChild(vmOnboarding, {
          workflowId,
          args: [{
            member: member.email, sshKey: key.line, requestedBy: member.name,
            request: { messageId: request.messageId, verdict: `${VERDICT_TEXT.ok} (DKIM ${request.auth.dkim}; SPF ${request.auth.spf}; DMARC ${request.auth.dmarc})`.slice(0, 400) },
          }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          staticSummary: `VM onboarding of ${member.name}`,
        });
        return { workflowId, started: true };
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        return { workflowId, started: false };
      }
    });
  } else {
    runbook.skip('start the onboarding', `verdict ${request.verdict}: nothing is started without a person checking`);
  }

  await runbook.step('mail the board', async () => {
    const who = request.member?.name ?? request.from?.address ?? 'an unknown sender';
    const subject = `VM request from ${who}: ${request.verdict}`;
    const result = await summarized(readOnly.mailBoard, `mail the board: ${request.verdict} request from ${who}`)({
      runbook: 'vmRequest',
      subject,
      text: [
        request.verdict === 'ok'
          ? 'A member asks for a VM. The mail checks passed; check the request before it is passed on to the admins.'
          : 'A VM request arrived that cannot be passed on as it is. Nothing was done on any host.',
        '',
        requestSummary(request),
        ...(onboarding ? ['', `The onboarding run ${onboarding.workflowId} waits for a board member's approval of its plan (every command):`, `  npx runbook plan ${onboarding.workflowId}`, `  npx runbook approve ${onboarding.workflowId} --by NAME`] : []),
      ].join('\n'),
    });
    sent('board', subject, result);
  });

  await condition(allHandlersFinished);
  return {
    verdict: request.verdict,
    reasons: request.reasons,
    ...(request.from ? { from: request.from } : {}),
    ...(request.member ? { member: request.member } : {}),
    auth: request.auth,
    ...(request.key ? { key: { type: request.key.type, bits: request.key.bits, fingerprint: request.key.fingerprint } } : {}),
    messageId: request.messageId,
    ...(onboarding ? { onboarding } : {}),
    mails,
    timeline: runbook.timeline,
  };
}
