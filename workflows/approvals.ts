/**
 * Approvals people can trust: before anything changes, the plan gets the inventory policy's number of distinct
 * approvals (never the same person twice, never the person who started the run), each for the plan shown (its
 * hash), signed with the person's inventory SSH key where the policy requires it. The `approve` Update's validator
 * refuses anything else, so a refused approval leaves no event in history. A new plan (a re-plan) starts over.
 * While it waits, a reminder goes to the approvers, then a second group is mailed, then the plan expires with
 * nothing changed.
 */
import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { condition, log, workflowInfo } from '@temporalio/workflow';
import type { ApprovalRules } from '../activities/index.js';
import { APPROVAL_NAMESPACE, approvalMessage, planHash } from '../common/approval.js';
import { failure } from '../common/failures.js';
import type { Approval, ApprovalRecord } from '../common/inputs.js';
import { SshSigError, verifySshSignature } from '../common/sshsig.js';
import { approveUpdate, type Plan } from './messages.js';
import { refuseUpdate, type People } from './people.js';
import { readOnly } from './proxies.js';
import { summarized, type Runbook } from './runbook.js';

export interface ApprovalRequest {
  /** What is approved, for people: "approve the plan to reboot dom0-a (kernel)". */
  what: string;
  who: string;
  /** The plan as the `plan` query shows it: approvals are for its hash. */
  plan: Plan;
  /** The inventory's policy for this runbook (activity approvalPolicy). */
  rules: ApprovalRules;
  /** Who started the run: never an approver. */
  requestedBy?: string;
  /** The input's approvalTimeout: overrides the policy's expireAfter. */
  timeout?: Duration;
  /** The input's approvalRemindAfter and approvalEscalateAfter: override the policy's. */
  remindAfter?: Duration;
  escalateAfter?: Duration;
}

export class Approvals {
  private plan?: string;
  private records: ApprovalRecord[] = [];
  private request?: ApprovalRequest;

  constructor(private readonly people: People, private readonly runbook: Runbook) {
    people.acceptsApproval((approval) => this.check(approval));
  }

  /** Wait for the policy's approvals of `request.plan`; nothing on a host changes before. */
  async obtain(request: ApprovalRequest): Promise<ApprovalRecord[]> {
    const hash = planHash(request.plan);
    // A re-planned run: what was approved before is not what runs now.
    if (hash !== this.plan) [this.plan, this.records] = [hash, []];
    const { count } = request.rules;
    const able = this.able(request);
    if (able && able.length < count - this.records.length) {
      throw failure('Refused', `refused: ${count} approvals needed, but only ${able.length ? able.join(', ') : 'nobody'} can give ${able.length === 1 ? 'one' : 'them'} (roles ${request.rules.roles?.join(', ')}${request.rules.signature === 'required' ? ', with an SSH key' : ''}; never ${request.requestedBy ?? 'the requester'}, who started the run): nothing was changed`);
    }
    this.request = request;
    const expire = request.timeout ?? request.rules.expireAfter;
    const deadline = Date.now() + msToNumber(expire);
    let closed = false;
    const settled = () => closed || this.records.length >= count;
    const escalation = this.escalate(request, deadline, settled).catch((error: unknown) => {
      // A reminder that could not be sent stops nobody: the approvers are still awaited, progress says by whom.
      log.warn('approval reminder not sent', { error: String(error) });
    });
    this.show();
    try {
      while (this.records.length < count) {
        const left = deadline - Date.now();
        const answered = left > 0 && await this.people.ask(approveUpdate, { what: () => `${request.what}; ${this.awaited()}`, who: request.who, timeout: left }, (a) => this.record(a));
        if (!answered) {
          const got = this.records.length;
          throw failure('NotApproved', got
            ? `only ${got} of ${count} approvals within ${String(expire)} (${this.records.map((r) => r.by).join(', ')}): nothing was changed`
            : `nobody approved within ${String(expire)}: nothing was changed`);
        }
      }
    } finally {
      closed = true;
      this.request = undefined;
    }
    await escalation;
    return [...this.records];
  }

  /** The `approve` Update's validator: refuses (no history event) what would not count; returns how it counts. */
  private check(a: Approval): ApprovalRecord['how'] {
    const request = this.request;
    if (!request || !this.plan) refuseUpdate('refused: no plan waits for approval now');
    const { rules } = request;
    if (request.requestedBy !== undefined && a.by === request.requestedBy) refuseUpdate(`refused: ${a.by} started this run and may not approve it`);
    if (this.records.some((r) => r.by === a.by)) refuseUpdate(`refused: ${a.by} approved this plan already; it needs ${rules.count} different people`);
    const person = rules.approvers?.find((p) => p.name === a.by);
    if (rules.approvers && !person) refuseUpdate(`refused: ${a.by} may not approve this runbook (it takes people with the roles ${rules.roles?.join(', ')} in the inventory)`);
    if (a.plan !== undefined && a.plan !== this.plan) {
      refuseUpdate(`refused: this approval is for plan ${a.plan}, but the plan now is ${this.plan}: read it again (npx runbook plan ${workflowInfo().workflowId})`);
    }
    if (a.signature === undefined) {
      if (rules.signature === 'required') refuseUpdate(`refused: this runbook takes signed approvals only (npx runbook approve ${workflowInfo().workflowId} --by ${a.by} --key KEYFILE)`);
      return 'unsigned';
    }
    if (!person?.sshKey) {
      // Nothing to verify it with: where unsigned approvals count, it counts as one (an ssh-agent signs by default).
      if (rules.signature === 'optional') return 'unsigned';
      refuseUpdate(`refused: the inventory holds no SSH key of ${a.by} to verify the signature with`);
    }
    const { workflowId, runId } = workflowInfo();
    let verdict: ReturnType<typeof verifySshSignature>;
    try {
      verdict = verifySshSignature(a.signature, person.sshKey, APPROVAL_NAMESPACE, approvalMessage({ workflowId, runId, planHash: this.plan, by: a.by }));
    } catch (error) {
      refuseUpdate(`refused: the signature is unreadable: ${error instanceof SshSigError ? error.message : 'malformed'}`);
    }
    if (verdict === 'other-key') refuseUpdate(`refused: signed with another key than ${a.by}'s in the inventory`);
    if (verdict === 'other-namespace') refuseUpdate(`refused: not signed for approvals (ssh-keygen -Y sign -n ${APPROVAL_NAMESPACE})`);
    if (verdict !== 'ok') refuseUpdate(`refused: the signature does not match this run and its plan ${this.plan} (signed for an older plan, or another run?)`);
    return 'signed';
  }

  /** The accepted approval, recorded: the validator passed it (one answer is handled at a time, see People). */
  private record(a: Approval): string {
    const how = a.signature !== undefined && this.request!.rules.approvers?.find((p) => p.name === a.by)?.sshKey ? 'signed' : 'unsigned';
    this.records.push({ by: a.by, ...(a.comment ? { comment: a.comment } : {}), plan: this.plan!, at: new Date().toISOString(), how });
    this.show();
    const needed = this.request!.rules.count - this.records.length;
    return `approved by ${a.by} (${how}) for plan ${this.plan}${needed > 0 ? `; ${needed} more approval${needed === 1 ? '' : 's'} needed` : ''}`;
  }

  /** Who is still awaited, for `progress` and the mails. */
  private awaited(): string {
    const request = this.request;
    if (!request) return 'no approval awaited';
    const needed = request.rules.count - this.records.length;
    const signed = request.rules.signature === 'required' ? ' signed' : '';
    const done = this.records.length ? `approved by ${this.records.map((r) => `${r.by} (${r.how})`).join(', ')}; ` : '';
    if (needed <= 0) return `${done}nobody more awaited`;
    const names = this.able(request);
    return `${done}awaited: ${needed} more${signed} approval${needed === 1 ? '' : 's'}${names ? ` from ${names.join(', ')}` : ''}`;
  }

  /** Who may still approve: the policy's people (with a key where it must be signed), not the requester, not twice. */
  private able(request: ApprovalRequest): string[] | undefined {
    return request.rules.approvers
      ?.filter((p) => p.name !== request.requestedBy && !this.records.some((r) => r.by === p.name) && (p.sshKey || request.rules.signature === 'optional'))
      .map((p) => p.name);
  }

  private show(): void {
    this.runbook.approvals({ plan: this.plan!, approved: [...this.records], awaited: this.awaited() });
  }

  /** Reminder to the approvers, then the second group, each once, unless the approvals came first. */
  private async escalate(request: ApprovalRequest, deadline: number, settled: () => boolean): Promise<void> {
    const { rules } = request;
    const remindAfter = request.remindAfter ?? rules.remindAfter;
    const escalateAfter = request.escalateAfter ?? rules.escalateTo?.after;
    const start = Date.now();
    const lapsed = async (after: Duration) => {
      const at = start + msToNumber(after);
      return at < deadline && !(await condition(settled, Math.max(1, at - Date.now())));
    };
    const id = workflowInfo().workflowId;
    const mail = (roles: string[] | undefined, subject: string, intro: string) => {
      const message = {
        subject,
        text: `${intro}\n\n${request.what}\n${this.awaited()}\nPlan ${this.plan}; it expires at ${new Date(deadline).toISOString()} with nothing changed.\n\nRead the plan, then approve it:\n  npx runbook plan ${id}\n  npx runbook approve ${id} --by NAME [--key KEYFILE] [--comment TEXT]`,
        runbook: workflowInfo().workflowType, workflowId: id,
      };
      return roles
        ? summarized(readOnly.mailPeople, `mail ${roles.join(', ')}: ${subject}`)(roles, message)
        : summarized(readOnly.mailAdmins, `mail the admins: ${subject}`)(message);
    };
    if (remindAfter && await lapsed(remindAfter)) {
      await mail(rules.roles, `reminder: ${workflowInfo().workflowType} waits for approval`, `${id} still waits for approval.`);
    }
    if (rules.escalateTo && escalateAfter && await lapsed(escalateAfter)) {
      await mail(rules.escalateTo.roles, `escalation: ${workflowInfo().workflowType} waits for approval`, `${id} still waits for approval; its approvers were reminded.`);
    }
  }
}
