/**
 * What an approver signs, built the same way by the CLI that signs and the workflow that checks: the workflow id,
 * the run id and the SHA-256 of the plan shown (canonical JSON, RFC 8785, so both sides hash the same bytes).
 * No I/O, no node built-ins: workflow code imports it.
 */
import canonicalize from 'canonicalize';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/** The `ssh-keygen -Y sign -n` namespace: a signature made for anything else (git, files) never counts here. */
export const APPROVAL_NAMESPACE = 'runbook-approval';

/** `sha256:<hex>` of the plan as the `plan` query returns it. */
export function planHash(plan: unknown): string {
  if (plan === undefined) throw new TypeError('no plan to hash');
  // The plan as the `plan` query delivers it (JSON): the workflow's own object hashes as the CLI's copy does.
  const text = canonicalize(JSON.parse(JSON.stringify(plan)));
  if (text === undefined) throw new TypeError('no plan to hash');
  return `sha256:${bytesToHex(sha256(utf8ToBytes(text)))}`;
}

export interface ApprovalSubject {
  workflowId: string;
  runId: string;
  planHash: string;
  by: string;
}

/** The message signed: one field a line, so a signature for one run, plan or person is no signature for another. */
export function approvalMessage(s: ApprovalSubject): string {
  return `runbook approval v1\nworkflow: ${s.workflowId}\nrun: ${s.runId}\nplan: ${s.planHash}\nby: ${s.by}\n`;
}
