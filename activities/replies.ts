/**
 * A member's "install done" reply delivered to their onboarding run as the `installDone` Update, through the
 * worker's client (a workflow cannot send an Update). At-least-once safe: the Update's id comes from the reply's
 * own mail, so a retried delivery is the same Update, and a run whose wait is over says so before any Update.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { requestWorkflowId } from './request-mail.js';
import type { ReplyMail } from './reply-mail.js';
import { installDoneUpdate, progressQuery } from '../workflows/messages.js';
import { onboardingWorkflowId } from '../workflows/vmRequest.js';

/** The onboarding step that waits for the answer: in the run's timeline once the wait is over. */
const WAIT_STEP = "attendre la fin de l'installation";

export interface ReplyOutcome {
  /** No onboarding run in the thread: the mail is no reply of ours (the intake judges it as a request). */
  outcome: 'no onboarding' | 'delivered' | 'already done' | 'refused';
  onboarding?: string;
  why?: string;
}

export function replyActivities() {
  return {
    async deliverInstallDone(reply: ReplyMail & { workflowId: string }): Promise<ReplyOutcome> {
      const { client } = Context.current();
      for (const id of reply.threadIds) {
        const onboarding = onboardingWorkflowId(requestWorkflowId(id, Buffer.alloc(0)));
        const handle = client.workflow.getHandle(onboarding);
        let status: string;
        try {
          status = (await handle.describe()).status.name;
        } catch (error) {
          if (error instanceof WorkflowNotFoundError) continue;
          throw error;
        }
        if (reply.reasons.length || !reply.member) return { outcome: 'refused', onboarding, why: reply.reasons.join('; ') || 'not from a member' };
        if (status === 'COMPLETED') return { outcome: 'already done', onboarding, why: 'the onboarding run has ended' };
        if (status !== 'RUNNING') return { outcome: 'refused', onboarding, why: `the onboarding run is ${status.toLowerCase()}: an admin looks at it` };
        if ((await handle.query(progressQuery)).timeline.some((s) => s.step === WAIT_STEP)) return { outcome: 'already done', onboarding, why: 'the install was said done already' };
        try {
          await handle.executeUpdate(installDoneUpdate, {
            // The same mail is the same Update: Temporal runs an Update id once per run.
            updateId: `install-done-${reply.workflowId}`,
            args: [{ by: reply.member.name, mailFrom: reply.member.email, comment: 'said by mail (DKIM-verified reply in the request thread)' }],
          });
          return { outcome: 'delivered', onboarding };
        } catch (error) {
          if (!(error instanceof WorkflowUpdateFailedError)) throw error;
          return { outcome: 'refused', onboarding, why: `the run refused it: ${(error.cause?.message ?? error.message).slice(0, 300)}` };
        }
      }
      return { outcome: 'no onboarding' };
    },
  };
}
