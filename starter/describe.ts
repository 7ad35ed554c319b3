/** How the CLI prints what a runbook tells: its progress and its plan. */
import { planHash } from '../common/approval.js';
import type { Plan, Progress } from '../workflows/messages.js';
import { ANSWERS, answerUsage } from './answers.js';

/** The same answer from our CLI, e.g. `, or: npx runbook approve ID --by NAME [--comment TEXT]`. */
function cliAnswer(update: string): string {
  const answer = ANSWERS.find((a) => a.update === update);
  return answer ? `\n  or: npx runbook ${answerUsage(answer)}` : '';
}

export function describeProgress(p: Progress): string {
  const waiting = p.waitingFor ? `\n  waiting for ${p.waitingFor.who}: ${p.waitingFor.what}${p.waitingFor.answerWith ? `\n  answer with the Update ${p.waitingFor.example ?? p.waitingFor.answerWith}${cliAnswer(p.waitingFor.answerWith)}` : ''}` : '';
  const ignored = (p.ignoredSignals ?? []).map((i) => `\n  ignored at ${i.at}: ${i.why}`).join('');
  const detail = p.detail ? `\n  ${JSON.stringify(p.detail)}` : '';
  const skipped = p.stepsSkipped ? ` (${p.stepsSkipped} skipped: ${p.timeline.filter((t) => t.skipped).map((t) => `"${t.step}": ${t.skipped}`).join('; ')})` : '';
  const decided = p.decisions.map((d) => `\n  decided: ${d.decision} by ${d.by} (${d.about}: ${d.why.split('\n')[0]})${d.comment ? `: ${d.comment}` : ''}`).join('');
  const approvals = p.approvals
    ? `\n  plan ${p.approvals.plan}: ${p.approvals.approved.length ? p.approvals.approved.map((a) => `approved by ${a.by} (${a.how}, ${a.at})`).join(', ') : 'not approved yet'}; ${p.approvals.awaited.split('; ').pop()}`
    : '';
  const at = Math.min(p.stepsDone + p.stepsSkipped + 1, p.stepsTotal);
  return `${p.runbook}${p.host ? ` on ${p.host}` : ''}: step ${at}/${p.stepsTotal} "${p.step}"${skipped}${waiting}${approvals}${decided}${ignored}${detail}`;
}

export function describePlan(plan: Plan | undefined): string {
  if (!plan) return 'no plan yet: the runbook has not worked it out (see its progress)';
  // The hash an approval is for: what `approve` signs, and what `progress` and `audit` name.
  const steps = plan.steps.map((s, i) => `  ${String(i + 1).padStart(2)}. [${s.host} ${s.stage}] ${s.command}\n      why: ${s.why}`);
  return [plan.summary, ...steps, ...(plan.facts ? [`facts: ${JSON.stringify(plan.facts)}`] : []), `plan hash: ${planHash(plan)}`].join('\n');
}
