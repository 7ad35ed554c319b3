/**
 * Playing the people of a runbook while its worker is being killed and restarted: every answer is an Update with
 * its own id, sent again until it went through (Temporal keeps one outcome per Update id, so a resend after a lost
 * reply is not a second answer), and every wait is a poll that shrugs off a worker that is down.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { planQuery, progressQuery, submitPassphraseUpdate as submit, type Plan } from '../../workflows/messages.js';
import type { AuditEntry, Lab } from '../../lab/lab.js';
import { eventually } from './runbooks.js';

/** The run's status from the server (no worker needed). */
export async function status(handle: WorkflowHandle): Promise<string> {
  return (await handle.describe()).status.name;
}

/** Waits until the run asks for `update` (true) or ended (false). */
export function asked(handle: WorkflowHandle, update: string, timeoutMs = 240_000): Promise<boolean> {
  return eventually(`${handle.workflowId} to ask for ${update}`, async () => {
    const progress = await handle.query(progressQuery).catch(() => undefined);
    if (progress?.waitingFor?.answerWith === update) return true;
    return (await status(handle)) !== 'RUNNING' ? ('ended' as const) : undefined;
  }, timeoutMs).then((r) => r === true);
}

/**
 * Send one answer, once: the same Update id until the run took it (or no longer waits for it, having taken it
 * under a worker that died before the reply). Returns the Update's result, if it came back.
 */
export async function answer<R, A>(handle: WorkflowHandle, update: UpdateDefinition<R, [A]>, arg: A, timeoutMs = 240_000): Promise<R | undefined> {
  const updateId = randomUUID();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await handle.executeUpdate(update, { args: [arg], updateId });
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError || Date.now() > deadline) throw error; // the run's own answer
      const progress = await handle.query(progressQuery).catch(() => undefined);
      if (progress && progress.waitingFor?.answerWith !== update.name) return undefined;
      if ((await status(handle).catch(() => 'RUNNING')) !== 'RUNNING') return undefined;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Answer every passphrase request with what `pick` says for it, until the run stops asking. */
export async function answerPassphrases(handle: WorkflowHandle, pick: (what: string) => unknown, timeoutMs = 240_000): Promise<void> {
  while (await asked(handle, submit.name, timeoutMs)) {
    const progress = await handle.query(progressQuery).catch(() => undefined);
    if (progress?.waitingFor?.answerWith !== submit.name) continue;
    // A try lost to a crash fails its Update ("type the passphrase again") once the run has looked at the host.
    await answer(handle, submit, { by: 'bob', passphrase: pick(progress.waitingFor.what) } as never, timeoutMs).catch((error: unknown) => {
      const cause = error instanceof WorkflowUpdateFailedError ? error.cause : undefined;
      if (!(cause instanceof ApplicationFailure && cause.type === 'AnswerRefused')) throw error;
    });
  }
}

/** A child workflow's handle once it exists. */
export async function child(client: Client, workflowId: string, timeoutMs = 240_000): Promise<WorkflowHandle> {
  const handle = client.workflow.getHandle(workflowId);
  await eventually(`child ${workflowId}`, () => handle.describe().then(() => true).catch(() => undefined), timeoutMs);
  return handle;
}

/** The plan a run showed (needs a worker: polled). */
export function planOfRun(handle: WorkflowHandle): Promise<Plan> {
  return eventually(`the plan of ${handle.workflowId}`, () => handle.query(planQuery).then((p) => p ?? undefined).catch(() => undefined), 120_000);
}

/** Where each host's audit stands now: `auditSince(lab, mark)` is what the hosts received after. */
export function auditMark(lab: Lab, hosts: string[]): Record<string, number> {
  return Object.fromEntries(hosts.map((h) => [h, lab.audit(h).length]));
}

export function auditSince(lab: Lab, mark: Record<string, number>): Record<string, AuditEntry[]> {
  return Object.fromEntries(Object.entries(mark).map(([h, n]) => [h, lab.audit(h).slice(n)]));
}
