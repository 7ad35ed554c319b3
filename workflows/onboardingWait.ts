/**
 * vmOnboarding's mails to the member and its long wait: "Quand l'adhérent aura terminé son installation" may be days
 * or weeks. Durable timers: a reminder to the member every `remindAfter`, the admins mailed once past
 * `escalateAfter`; the `installDone` Update (the member, or an admin for them) ends the wait.
 */
import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { workflowInfo } from '@temporalio/workflow';
import type { InstallDoneAnswer } from '../common/inputs.js';
import { installDoneUpdate } from './messages.js';
import { reminderMail, type VmFacts } from './onboardingTexts.js';
import type { People } from './people.js';
import { readOnly } from './proxies.js';
import { summarized } from './runbook.js';

export interface SentMail {
  to: string;
  subject: string;
  sent: boolean;
  at: string;
}

/** One mail to the member over the inventory's SMTP, in the thread of their request when there is one. */
export async function mailTo(mails: SentMail[], member: { email: string }, mail: { subject: string; text: string }, inReplyTo?: string, runbook = 'vmOnboarding'): Promise<void> {
  const result = await summarized(readOnly.mailMember, `mail ${member.email}: ${mail.subject}`)({
    to: member.email, subject: mail.subject, text: mail.text, runbook, ...(inReplyTo ? { inReplyTo } : {}),
  });
  mails.push({ to: member.email, subject: mail.subject, sent: result.sent, at: new Date().toISOString() });
}

export async function awaitInstallDone(people: People, o: {
  member: { name: string; email: string };
  vm: VmFacts;
  remindAfter: Duration;
  escalateAfter: Duration;
  replyTo?: string;
  mails: SentMail[];
}): Promise<InstallDoneAnswer> {
  const since = new Date();
  let escalated = false;
  for (;;) {
    const answered = await people.ask(installDoneUpdate, {
      what: `${o.member.name} installs ${o.vm.ref} (VNC through ${o.vm.hypervisor}:${o.vm.vncPort}); say when the install is done`,
      who: `${o.member.name} or an admin`, timeout: o.remindAfter,
    }, (a) => `install done, said by ${a.by}: ${o.vm.ref} will now boot from its disk`);
    if (answered) return answered.answer;
    await mailTo(o.mails, o.member, reminderMail(o.member.name, o.vm, since.toISOString().slice(0, 10)), o.replyTo);
    if (!escalated && Date.now() - since.getTime() >= msToNumber(o.escalateAfter)) {
      escalated = true;
      const id = workflowInfo().workflowId;
      await summarized(readOnly.mailAdmins, `mail the admins: ${o.vm.ref} still not installed`)({
        subject: `${o.vm.ref}: ${o.member.name}'s VM still waits for its install`,
        text: `${o.member.name} <${o.member.email}> has not said the install of ${o.vm.ref} (${o.vm.dnsName}) is done since ${since.toISOString()}.\nAsk them, then:\n  temporal workflow update execute --workflow-id ${id} --name installDone --input '{"by": "NAME"}'\nor the Temporal UI (Update "installDone").`,
        runbook: 'vmOnboarding', workflowId: id,
      });
    }
  }
}
