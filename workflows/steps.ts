/**
 * Host steps as data: a runbook builds each host-changing step once — the host, the boot stage, the command (from
 * common/commands.ts), why, and how to run it — and both the `plan` query and the execution walk the same values,
 * so what a person approves is what runs. The activity that runs a step receives its command and runs exactly
 * that, after its own check of whether the change is already made.
 *
 * A step whose retries are spent does not fail the run with the host half done: the admins are mailed and a person
 * decides (retry, abort, and skip with a reason where the step allows it); the decision goes in the result.
 */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, workflowInfo } from '@temporalio/workflow';
import type { Command } from '../common/commands.js';
import { failure } from '../common/failures.js';
import type { PlanStep } from './messages.js';
import type { People } from './people.js';
import type { Runbook } from './runbook.js';

/** A command of the plan as the runbook holds it: built with `sh`, run as is. */
export interface PlannedCommand {
  host: string;
  stage: PlanStep['stage'];
  command: Command;
  why: string;
}

export interface HostStep<R = unknown> extends PlannedCommand {
  /** How the step runs: an activity call given this step's command. */
  run: (command: Command) => Promise<R>;
  /** A person may choose to go on without it (with a reason). */
  skippable?: boolean;
}

/** What a skipped step returns: who skipped it and why. */
export interface Skipped {
  skipped: string;
  by: string;
}

/** The plan as people read it: the same steps, without how they run. */
export function planOf(steps: readonly PlannedCommand[]): PlanStep[] {
  return steps.map(({ host, stage, command, why }) => ({ host, stage, command: command.text, why }));
}

/** The message of what went wrong, from the activity's or child's failure down to its cause. */
export function reasonOf(error: unknown): string {
  let e: unknown = error;
  while ((e instanceof ActivityFailure || e instanceof ChildWorkflowFailure) && e.cause) e = e.cause;
  return e instanceof Error ? e.message : String(error);
}

/** A failure that a person can look at and answer: an activity or child that failed for good. */
function canEscalate(error: unknown): boolean {
  return error instanceof ActivityFailure || (error instanceof ApplicationFailure && !(error.type === 'Aborted'));
}

/**
 * Run `attempt` until it succeeds; when it fails for good, ask a person: retry, abort (the run fails with what
 * was done so far), or skip where `skippable`. `what` names the step for people, `doneSoFar` says what changed.
 */
export async function persist<R>(
  people: People,
  what: { host: string; title: string; skippable?: boolean; doneSoFar: () => string },
  attempt: () => Promise<R>,
): Promise<R | Skipped> {
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!canEscalate(error)) throw error;
      const why = reasonOf(error);
      const choices = what.skippable ? (['retry', 'skip', 'abort'] as const) : (['retry', 'abort'] as const);
      const decision = await people.escalate({
        subject: `${what.host}: ${what.title} failed`,
        text: `${workflowInfo().workflowType} on ${what.host} could not go on: ${what.title}\n\n${why}\n\nDone so far: ${what.doneSoFar()}\n\nLook at the host, then retry (the step checks first whether it was done), ${what.skippable ? 'skip it (say why), ' : ''}or abort (the run stops here, the host stays as it is).`,
        what: `${what.title} on ${what.host} failed: ${why.split('\n')[0]}`,
        choices,
      }, `${what.title} on ${what.host}`, why);
      if (decision.decision === 'skip') return { skipped: decision.comment ?? '', by: decision.by };
      if (decision.decision === 'abort') {
        throw failure('Aborted', `${what.title} on ${what.host} failed (${why.split('\n')[0]}); ${decision.by} aborted the runbook${decision.comment ? `: ${decision.comment}` : ''}. Done so far: ${what.doneSoFar()}`);
      }
    }
  }
}

/** Run one planned host step, asking a person when it cannot be done. */
export function runStep<R>(people: People, step: HostStep<R>, doneSoFar: () => string): Promise<R | Skipped> {
  return persist(people, { host: step.host, title: step.command.text, skippable: step.skippable, doneSoFar }, () => step.run(step.command));
}

export function isSkipped(value: unknown): value is Skipped {
  return typeof value === 'object' && value !== null && 'skipped' in value && 'by' in value;
}

/** A step's outcome as the result and the admins' mail say it: "done", "already done", or who skipped it and why. */
export function outcomeText(outcome: unknown): string {
  return isSkipped(outcome) ? `skipped by ${outcome.by}: ${outcome.skipped}` : String(outcome);
}

/** A step as the result records it: where, what, and how it ended (done, already done, skipped by whom). */
export interface RanStep { host: string; command: string; outcome: string }

/** Runs steps one after the other, each shown in `progress` while it runs and recorded in `ran` once it ends. */
export function walker(runbook: Runbook, people: People, ran: RanStep[], doneSoFar: () => string): (steps: readonly HostStep[]) => Promise<void> {
  return async (steps) => {
    for (const step of steps) {
      runbook.detail({ now: step.command.text, why: step.why });
      ran.push({ host: step.host, command: step.command.text, outcome: outcomeText(await runStep(people, step, doneSoFar)) });
    }
  };
}
