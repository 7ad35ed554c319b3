/**
 * `npx runbook audit ID`: what a run did, read back from its history (and its children's) with our codec: who
 * approved which plan, when and how (signed / unsigned), and every activity it ran — the host, the command (the
 * planned command it was given, else its one-line summary), the exit code (0 when it succeeded; a failed
 * command's own code from its failure's details) and how long it took. Nothing here trusts the workflow's own
 * account: the history is the server's record.
 */
import type { Client } from '@temporalio/client';
import type { LoadedDataConverter } from '@temporalio/common';
import { decodeArrayFromPayloads, decodeOptionalFailureToOptionalError, decodeUserMetadata } from '@temporalio/common/lib/internal-non-workflow/index.js';
import { tsToMs } from '@temporalio/common/lib/time.js';
import type proto from '@temporalio/proto';
import { ApplicationFailure } from '@temporalio/common';
import type { Approval } from '../common/inputs.js';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

export interface AuditedApproval {
  workflowId: string;
  by: string;
  plan?: string;
  how: 'signed' | 'unsigned';
  at: string;
  comment?: string;
  /** What the run answered (e.g. "approved by alice (signed) for plan sha256:…"). */
  reply?: string;
}

export interface AuditedCommand {
  workflowId: string;
  activity: string;
  host?: string;
  command: string;
  startedAt: string;
  seconds: number;
  attempts: number;
  /** 0 when the activity succeeded; a failed command's exit code; null for another failure or none yet. */
  exitCode: number | null;
  outcome: string;
}

export interface Audit {
  workflowId: string;
  type: string;
  status: string;
  approvals: AuditedApproval[];
  commands: AuditedCommand[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** One line of a value for a terminal: JSON, cut short. */
function brief(value: unknown): string {
  const text = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

async function auditRun(client: Client, converter: LoadedDataConverter, workflowId: string, into: Audit): Promise<void> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<string, { activity: string; host?: string; command: string }>();
  const started = new Map<string, { at: number; attempts: number }>();
  const updates = new Map<string, { approval: Approval; at: number }>();
  const children: string[] = [];
  for (const event of (history.events ?? []) as HistoryEvent[]) {
    const at = tsToMs(event.eventTime);
    const id = String(event.eventId);
    if (event.activityTaskScheduledEventAttributes) {
      const a = event.activityTaskScheduledEventAttributes;
      const args = await decodeArrayFromPayloads(converter, a.input?.payloads);
      const { staticSummary: summary } = await decodeUserMetadata(converter, event.userMetadata);
      const command = args.find((x): x is { text: string } => typeof x === 'object' && x !== null && typeof (x as { text?: unknown }).text === 'string');
      scheduled.set(id, { activity: a.activityType?.name ?? '?', ...(typeof args[0] === 'string' ? { host: args[0] } : {}), command: command?.text ?? summary ?? a.activityType?.name ?? '?' });
    } else if (event.activityTaskStartedEventAttributes) {
      const a = event.activityTaskStartedEventAttributes;
      started.set(String(a.scheduledEventId), { at, attempts: a.attempt ?? 1 });
    } else if (event.activityTaskCompletedEventAttributes || event.activityTaskFailedEventAttributes || event.activityTaskTimedOutEventAttributes) {
      const a = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes!;
      const from = String(a.scheduledEventId);
      const what = scheduled.get(from);
      const start = started.get(from);
      if (!what) continue;
      let exitCode: number | null = null;
      let outcome: string;
      if (event.activityTaskCompletedEventAttributes) {
        exitCode = 0;
        outcome = brief((await decodeArrayFromPayloads(converter, event.activityTaskCompletedEventAttributes.result?.payloads))[0]);
      } else {
        const failure = 'failure' in a ? a.failure : undefined;
        let error = await decodeOptionalFailureToOptionalError(converter, failure ?? undefined);
        while (error && !(error instanceof ApplicationFailure) && error.cause) error = error.cause as Error;
        const details = error instanceof ApplicationFailure ? (error.details?.[0] as { exitCode?: unknown } | undefined) : undefined;
        if (typeof details?.exitCode === 'number') exitCode = details.exitCode;
        outcome = `failed: ${brief(error?.message ?? 'timed out')}`;
      }
      into.commands.push({
        workflowId, ...what, startedAt: iso(start?.at ?? at), seconds: Math.round((at - (start?.at ?? at)) / 100) / 10,
        attempts: start?.attempts ?? 1, exitCode, outcome,
      });
    } else if (event.workflowExecutionUpdateAcceptedEventAttributes) {
      const a = event.workflowExecutionUpdateAcceptedEventAttributes;
      const input = a.acceptedRequest?.input;
      if (input?.name !== 'approve') continue;
      const [approval] = await decodeArrayFromPayloads(converter, input.args?.payloads);
      updates.set(a.protocolInstanceId ?? '', { approval: approval as Approval, at });
    } else if (event.workflowExecutionUpdateCompletedEventAttributes) {
      const a = event.workflowExecutionUpdateCompletedEventAttributes;
      const accepted = updates.get(a.meta?.updateId ?? '');
      if (!accepted) continue;
      const { approval } = accepted;
      // A reply is an approval that counted; a failure is one the run could not take.
      if (!a.outcome?.success) continue;
      const [reply] = await decodeArrayFromPayloads(converter, a.outcome.success.payloads);
      into.approvals.push({
        workflowId, by: approval.by, ...(approval.plan ? { plan: approval.plan } : {}), how: approval.signature ? 'signed' : 'unsigned',
        at: iso(accepted.at), ...(approval.comment ? { comment: approval.comment } : {}), ...(typeof reply === 'string' ? { reply } : {}),
      });
    } else if (event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId) {
      children.push(event.startChildWorkflowExecutionInitiatedEventAttributes.workflowId);
    }
  }
  for (const child of children) await auditRun(client, converter, child, into);
}

/** The audit of a run and its children. */
export async function auditOf(client: Client, workflowId: string): Promise<Audit> {
  const { type, status } = await client.workflow.getHandle(workflowId).describe();
  const audit: Audit = { workflowId, type, status: status.name, approvals: [], commands: [] };
  await auditRun(client, client.options.loadedDataConverter, workflowId, audit);
  // The children's commands where they ran, between the parent's (a stable sort keeps each run's own order).
  audit.commands.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  return audit;
}

/** The audit as people read it. */
export function describeAudit(audit: Audit): string {
  const approvals = audit.approvals.map((a) =>
    `  ${a.at}  ${a.by}  ${a.how}  plan ${a.plan ?? '(not given)'}${a.comment ? `  "${a.comment}"` : ''}${a.workflowId !== audit.workflowId ? `  (${a.workflowId})` : ''}`);
  const commands = audit.commands.map((c) =>
    `  ${c.startedAt}  ${`${c.seconds}s`.padStart(7)}  exit ${c.exitCode ?? '-'}  ${c.host ?? '-'}  ${c.command}${c.attempts > 1 ? `  (attempt ${c.attempts})` : ''}  -> ${c.outcome}${c.workflowId !== audit.workflowId ? `  (${c.workflowId})` : ''}`);
  return [
    `${audit.type} ${audit.workflowId}: ${audit.status}`,
    'approvals:', ...(approvals.length ? approvals : ['  none']),
    'commands (activities, in order; exit 0 = succeeded):', ...(commands.length ? commands : ['  none']),
  ].join('\n');
}
