/**
 * What every runbook shares: its steps as the procedure names them, the `progress` query, a timeline of how
 * long each step took (or why it was skipped), the decisions people made, and the waits for people.
 * Workflow code only: deterministic (workflow time, no I/O).
 */
import type { ActivityFunction, Duration } from '@temporalio/common';
import { condition, setHandler, type ActivityFunctionWithOptions } from '@temporalio/workflow';
import type { z } from 'zod';
import { failure } from '../common/failures.js';
import { describeIssues } from '../common/validation.js';
import { progressQuery, type Progress } from './messages.js';

/** A runbook's steps as its page names them. `Title` is the union of their titles: another title does not compile. */
export class Runbook<Title extends string = string> {
  private readonly progress: Progress;
  private stepStartedAt = Date.now();

  /** What the runbook waits for, worked out when asked (e.g. who holds the lease it waits for). */
  private waitingWhat?: () => string;

  constructor(runbook: string, steps: readonly Title[], host?: string) {
    this.progress = { runbook, host, step: 'starting', stepsDone: 0, stepsSkipped: 0, stepsTotal: steps.length, timeline: [], decisions: [], leases: [] };
    setHandler(progressQuery, () => {
      const waiting = this.progress.waitingFor;
      return waiting && this.waitingWhat ? { ...this.progress, waitingFor: { ...waiting, what: this.waitingWhat() } } : this.progress;
    });
  }

  /** Run one step of the procedure. */
  async step<T>(title: Title, body: () => Promise<T>): Promise<T> {
    this.progress.step = title;
    this.progress.detail = undefined;
    this.stepStartedAt = Date.now();
    const result = await body();
    this.progress.timeline.push({
      step: title,
      startedAt: new Date(this.stepStartedAt).toISOString(),
      seconds: Math.round((Date.now() - this.stepStartedAt) / 100) / 10,
    });
    this.progress.stepsDone += 1;
    return result;
  }

  /** A step this run does not need (e.g. no encrypted system disk): counted as skipped, with the reason. */
  skip(title: Title, reason: string): void {
    this.progress.timeline.push({ step: title, startedAt: new Date().toISOString(), seconds: 0, skipped: reason });
    this.progress.stepsSkipped += 1;
  }

  /** Facts about the current step, shown by the `progress` query. */
  detail(detail: Record<string, unknown>): void {
    this.progress.detail = detail;
  }

  /** Who approved the plan, who is awaited: kept in `progress`. */
  approvals(state: NonNullable<Progress['approvals']>): void {
    this.progress.approvals = state;
  }

  /** A person's decision when the runbook could not go on by itself: kept in `progress` and in the result. */
  decided(decision: Progress['decisions'][number]): void {
    this.progress.decisions.push(decision);
  }

  /**
   * Wait for a person: `progress` says what we wait for, from whom, and which Update answers it.
   * Returns false when the timeout passes first.
   */
  async waitFor(
    /** `what` may be worked out when `progress` is asked (it changes while the runbook waits). */
    waiting: { what: string | (() => string); who: string; answerWith?: string },
    answered: () => boolean,
    /** Without one, as long as it takes (a host stuck in its initramfs waits for a person, however late). */
    timeout?: Duration,
  ): Promise<boolean> {
    const what = typeof waiting.what === 'string' ? waiting.what : waiting.what();
    this.waitingWhat = typeof waiting.what === 'string' ? undefined : waiting.what;
    this.progress.waitingFor = { ...waiting, what, since: new Date().toISOString() };
    try {
      if (timeout === undefined) {
        await condition(answered);
        return true;
      }
      // The timeout's timer carries the summary: the UI's timeline shows who is awaited, not a bare timer.
      return await condition(answered, timeout, { summary: `waiting for ${waiting.who}: ${what}` });
    } finally {
      this.progress.waitingFor = undefined;
      this.waitingWhat = undefined;
    }
  }

  /** The Update that answers what the runbook waits for now, if any: validators accept only that one. */
  get waitingForUpdate(): string | undefined {
    return this.progress.waitingFor?.answerWith;
  }

  get timeline(): Progress['timeline'] {
    return this.progress.timeline;
  }

  /** The leases held now, shown by `progress`. */
  get leases(): Progress['leases'] {
    return this.progress.leases;
  }

  get decisions(): Progress['decisions'] {
    return this.progress.decisions;
  }
}

/**
 * One activity call with a one-line summary, e.g. `summarized(act.removeMember, 'mdadm --remove md1 member')(…args)`.
 * The summary lands on the ScheduleActivityTask event (user metadata, encrypted by our codec like any payload),
 * so the Temporal UI's timeline reads like the procedure instead of a list of activity type names.
 */
export function summarized<F extends ActivityFunction>(
  activity: ActivityFunctionWithOptions<F>,
  summary: string,
): (...args: Parameters<F>) => Promise<Awaited<ReturnType<F>>> {
  return (...args) => activity.executeWithOptions({ summary }, args);
}

/** Validate a runbook's input inside the workflow: a run started from the UI gets the same clear message as our CLI. */
export function validInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw failure('InvalidInput', `invalid input:\n${describeIssues(parsed.error)}`);
  return parsed.data;
}
