/**
 * The request mailbox's poller, as a workflow (not a process of ours that could die unseen): poll, start one
 * vmRequest per request, file the mail, sleep; continue-as-new after a number of polls so its history stays short.
 *
 * One run per request: the child's workflow id comes from the Message-ID, and a duplicate start is refused by
 * the server; the mail is moved only once its run exists, so a crash in between means the next poll finds the
 * run and only files the mail.
 *
 * A mail in an onboarding's thread (a member's "install done") starts nothing: its judgment goes to the run as the
 * `installDone` Update (activities/replies.ts), or is recorded with why not; it is filed after that too.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ActivityFailure, ParentClosePolicy, WorkflowIdReusePolicy, continueAsNew, defineQuery, log, setHandler, sleep, startChild } from '@temporalio/workflow';
import { MailIntakeInput } from '../common/requests.js';
import { readOnly } from './proxies.js';
import { summarized, validInput } from './runbook.js';
import { vmRequest } from './vmRequest.js';

export interface MailIntakeStatus {
  polls: number;
  /** Runs started by this run of the intake (not counting earlier runs of the chain). */
  started: string[];
  /** Requests whose run existed already (a second poll, a duplicate delivery). */
  alreadyStarted: string[];
  /** Mails filed without a run, and why (automatic mail: our own, bounces, vacation replies). */
  ignored: { workflowId: string; why: string }[];
  /** Replies in an onboarding's thread: delivered as its `installDone`, already done, or refused and why. */
  replies: { workflowId: string; onboarding?: string; outcome: string; why?: string }[];
  lastPollAt?: string;
  lastError?: string;
}

export const mailIntakeStatusQuery = defineQuery<MailIntakeStatus>('mailIntakeStatus');

export async function mailIntake(input: MailIntakeInput = {}): Promise<void> {
  const { pollEvery: every, pollsPerRun } = validInput(MailIntakeInput, input);
  const status: MailIntakeStatus = { polls: 0, started: [], alreadyStarted: [], ignored: [], replies: [] };
  setHandler(mailIntakeStatusQuery, () => status);

  for (let i = 0; i < pollsPerRun; i++) {
    try {
      const requests = await summarized(readOnly.pollRequests, 'read the request mailbox')();
      for (const { uid, uidValidity, ignored, reply, ...request } of requests) {
        const file = (why: string) => summarized(readOnly.fileRequest, `file ${request.workflowId}: ${why}`)({ uid, uidValidity, workflowId: request.workflowId });
        if (ignored) {
          status.ignored.push({ workflowId: request.workflowId, why: ignored });
          await file(ignored);
          continue;
        }
        if (reply) {
          const delivered = await summarized(readOnly.deliverInstallDone, `the reply ${request.workflowId} in its onboarding thread`)({ ...reply, workflowId: request.workflowId });
          if (delivered.outcome !== 'no onboarding') {
            status.replies.push({ workflowId: request.workflowId, ...delivered });
            await file(`a reply to ${delivered.onboarding ?? 'an onboarding'}: ${delivered.outcome}`);
            continue;
          }
        }
        try {
          await startChild(vmRequest, {
            workflowId: request.workflowId,
            args: [request],
            // The request's run outlives this poller (its continue-as-new, its end).
            parentClosePolicy: ParentClosePolicy.ABANDON,
            workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
            staticSummary: `VM request (${request.verdict}) from ${request.from?.address ?? 'an unknown sender'}`,
          });
          status.started.push(request.workflowId);
        } catch (error) {
          if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
          status.alreadyStarted.push(request.workflowId);
        }
        await file('the request');
      }
      status.lastError = undefined;
    } catch (error) {
      // A mailbox down or refusing us is retried at the next poll: the poller itself never stops on it.
      if (!(error instanceof ActivityFailure)) throw error;
      status.lastError = error.cause?.message ?? error.message;
      log.warn('mail intake: poll failed', { error: status.lastError });
    }
    status.polls += 1;
    status.lastPollAt = new Date().toISOString();
    status.started = status.started.slice(-100);
    status.alreadyStarted = status.alreadyStarted.slice(-100);
    status.ignored = status.ignored.slice(-100);
    status.replies = status.replies.slice(-100);
    await sleep(every, { summary: `next poll of the request mailbox in ${String(every)}` });
  }
  await continueAsNew<typeof mailIntake>(input);
}
