/**
 * What every runbook shares: its steps as the procedure names them, the `progress` query, a timeline of how
 * long each step took (or why it was skipped), the decisions people made, and the waits for people.
 * Workflow code only: deterministic (workflow time, no I/O).
 */
import type { ActivityFunction, Duration } from '@temporalio/common';
import { condition, setCurrentDetails, setDefaultSignalHandler, setHandler, sleep, upsertSearchAttributes } from '@temporalio/workflow';
import type { z } from 'zod';
import { failure } from '../common/failures.js';
import { RUNBOOK, RUNBOOK_CLUSTER, RUNBOOK_HOSTS, RUNBOOK_WAITING_FOR } from '../common/search-attributes.js';
import { describeIssues } from '../common/validation.js';
import { ANSWER_EXAMPLES, answerExample, progressQuery, type Progress } from './messages.js';

/** An untimed wait still shows on the UI's timeline: a timer with the wait's summary, started again this often. */
const SHOWN_WAIT = '1 day';
/** The ignored Signals `progress` keeps (the latest). */
const IGNORED_KEPT = 20;

/** A runbook's steps as its page names them. `Title` is the union of their titles: another title does not compile. */
export class Runbook<Title extends string = string> {
  private readonly progress: Progress;
  private stepStartedAt = Date.now();

  /** What the runbook waits for, worked out when asked (e.g. who holds the lease it waits for). */
  private waitingWhat?: () => string;

  /** `host`: what `progress` names (a cluster runbook names its cluster, given as `cluster` too). */
  constructor(runbook: string, steps: readonly Title[], host?: string, cluster?: string) {
    this.progress = { runbook, host, step: 'starting', stepsDone: 0, stepsSkipped: 0, stepsTotal: steps.length, timeline: [], decisions: [], leases: [], ignoredSignals: [] };
    setHandler(progressQuery, () => {
      const waiting = this.progress.waitingFor;
      return waiting && this.waitingWhat ? { ...this.progress, waitingFor: { ...waiting, what: this.waitingWhat() } } : this.progress;
    });
    // The UI's "Send a Signal" with an Update's name looks like an answer on the timeline and is none: say so there.
    // (Our own Signals, the leases', have their handlers; anything else unknown is dropped, as Temporal would.)
    setDefaultSignalHandler((signal) => {
      if (!(signal in ANSWER_EXAMPLES)) return;
      const why = `a Signal "${signal}" is not an answer and was ignored: send the Update ${answerExample(signal)}`;
      this.progress.ignoredSignals = [...this.progress.ignoredSignals, { signal, at: new Date().toISOString(), why }].slice(-IGNORED_KEPT);
      this.showDetails(why);
      void sleep(1, { summary: `ignored: ${why}` });
    });
    this.showDetails();
    // The UI's list shows and filters runs by these (common/search-attributes.ts).
    upsertSearchAttributes([
      { key: RUNBOOK, value: runbook },
      ...(cluster ? [{ key: RUNBOOK_CLUSTER, value: cluster }] : host ? [{ key: RUNBOOK_HOSTS, value: [host] }] : []),
    ]);
  }

  /** The hosts a cluster runbook changes, once it knows them: the UI's list finds the run by any of them. */
  hosts(hosts: readonly string[]): void {
    upsertSearchAttributes([{ key: RUNBOOK_HOSTS, value: [...hosts] }]);
  }

  /** The run's current details in the UI: the step, and what it waits for with the Update to send. */
  private showDetails(note?: string): void {
    const p = this.progress;
    const at = Math.min(p.stepsDone + p.stepsSkipped + 1, p.stepsTotal);
    const lines = [`**${p.runbook}${p.host ? ` on ${p.host}` : ''}**: step ${at}/${p.stepsTotal}, ${p.step}`];
    const waiting = p.waitingFor;
    if (waiting) {
      lines.push(`Waiting for ${waiting.who}: ${waiting.what} (since ${waiting.since})`);
      if (waiting.example) lines.push(`Answer with the Update \`${waiting.example}\``);
    }
    if (note) lines.push(`Note: ${note}`);
    setCurrentDetails(lines.join('\n\n'));
  }

  /** Run one step of the procedure. */
  async step<T>(title: Title, body: () => Promise<T>): Promise<T> {
    this.progress.step = title;
    this.progress.detail = undefined;
    this.stepStartedAt = Date.now();
    this.showDetails();
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
    this.showDetails();
  }

  /** How many steps `progress` counts, once the preflight knows (a runbook with a step per node). */
  plannedSteps(total: number): void {
    this.progress.stepsTotal = total;
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
    const example = waiting.answerWith ? answerExample(waiting.answerWith) : undefined;
    this.progress.waitingFor = { ...waiting, what, since: new Date().toISOString(), ...(example ? { example } : {}) };
    this.showDetails();
    upsertSearchAttributes([{ key: RUNBOOK_WAITING_FOR, value: `${waiting.answerWith ? `${waiting.answerWith} by ` : ''}${waiting.who}` }]);
    // The timer carries the summary: the UI's timeline shows who is awaited and how to answer, not a bare timer.
    const summary = `waiting for ${waiting.who}: ${what}${example ? `; answer with the Update ${example}` : ''}`;
    try {
      if (timeout !== undefined) return await condition(answered, timeout, { summary });
      while (!(await condition(answered, SHOWN_WAIT, { summary }))) { /* still waiting, as long as it takes */ }
      return true;
    } finally {
      this.progress.waitingFor = undefined;
      this.waitingWhat = undefined;
      this.showDetails();
      upsertSearchAttributes([{ key: RUNBOOK_WAITING_FOR, value: null }]);
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
  activity: F & { executeWithOptions(options: { summary: string }, args: Parameters<F>): Promise<Awaited<ReturnType<F>>> },
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
