/**
 * The runbook waits for people, one way: `ask` a question that one Workflow Update answers. Each runbook says at
 * its top which Updates it takes (`accepts`); an Update's validator accepts it only while the runbook asks that
 * question, so an answer out of turn (or a plaintext passphrase) is refused and never recorded in history. The
 * Update completes with the runbook's reply to the answer (for a passphrase: whether it was right).
 *
 * On top of `ask`: approvals before anything changes (workflows/approvals.ts), `escalate` (mail the admins, wait for `decide`) when a step
 * cannot go on by itself, and `passphraseFor` (ask until a try is accepted or the tries are spent).
 */
import type { Duration, UpdateDefinition } from '@temporalio/common';
import { condition, setHandler, workflowInfo } from '@temporalio/workflow';
import type { z } from 'zod';
import { failure } from '../common/failures.js';
import { Approval, Decision, PassphraseAnswer } from '../common/inputs.js';
import type { SealedSecret } from '../common/sealed.js';
import { describeIssues } from '../common/validation.js';
import { approveUpdate, decideUpdate, submitPassphraseUpdate, type PassphraseOutcome } from './messages.js';
import { readOnly } from './proxies.js';
import { summarized, type Runbook } from './runbook.js';

/**
 * Refuse an Update in its validator: the only place workflow code throws a plain Error, because Temporal turns a
 * validator's throw into the Update's rejection (nothing is recorded) and never into a failed workflow task.
 */
export function refuseUpdate(message: string): never {
  throw new Error(message);
}

/** Validate an Update's argument; the message names fields only, never values (a passphrase could be one). */
function parsed<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) refuseUpdate(`refused:\n${describeIssues(result.error)}`);
  return result.data;
}

export interface Question {
  /** What is asked, for the person: which host, which disk, what to check. */
  what: string;
  who: string;
  /** Without one, as long as it takes. */
  timeout?: Duration;
}

/** What one passphrase try did with the sealed passphrase. */
export interface Attempt {
  accepted: boolean;
  message: string;
  /** The host has no tries left (the initramfs gave up): stop asking. */
  exhausted?: boolean;
}

export interface Escalation {
  /** The mail's subject, e.g. "dom0-a: mdadm --add failed". */
  subject: string;
  /** What happened and what is at stake, for the admins' mail. */
  text: string;
  /** The question, as `progress` shows it. */
  what: string;
  choices: readonly Decision['decision'][];
  who?: string;
}

interface Pending {
  update: string;
  answer: unknown;
  settled: boolean;
  reply?: unknown;
  error?: unknown;
}

export class People {
  private readonly accepted = new Set<string>();
  private pending?: Pending;
  private choices: readonly Decision['decision'][] = [];

  constructor(private readonly runbook: Runbook) {}

  /**
   * This runbook takes answers through `update`, validated by `schema` (and `check`), only while it asks.
   * Call once per Update at the runbook's top: the list of `accepts` is the list of what people can answer.
   */
  accepts<A, R>(update: UpdateDefinition<R, [A]>, schema: z.ZodType<A>, check?: (answer: A) => void): this {
    this.accepted.add(update.name);
    setHandler(update, async (answer: A) => {
      const pending: Pending = { update: update.name, answer, settled: false };
      this.pending = pending;
      await condition(() => pending.settled);
      // The runbook's own failure (a try that could not run): the Update fails with it, the sender reads why.
      if (pending.error !== undefined) throw pending.error;
      return pending.reply as R;
    }, {
      validator: (answer: A) => {
        const waiting = this.runbook.waitingForUpdate;
        if (waiting !== update.name) refuseUpdate(`the runbook is not waiting for "${update.name}" now${waiting ? ` (it waits for "${waiting}")` : ''}`);
        if (this.pending && !this.pending.settled) refuseUpdate(`an answer to "${update.name}" is being handled now: wait for its outcome`);
        const value = parsed(schema, answer); // (not inside `check?.(…)`: an absent check would skip the parse)
        check?.(value);
      },
    });
    return this;
  }

  /** The Updates of `approve` (its checks: workflows/approvals.ts), `decide` and `submitPassphrase`, for the runbooks that use them. */
  acceptsApproval(check: (approval: Approval) => void): this {
    return this.accepts(approveUpdate, Approval, check);
  }

  acceptsDecisions(): this {
    return this.accepts(decideUpdate, Decision, (d) => {
      if (!this.choices.includes(d.decision)) refuseUpdate(`refused: the choices now are ${this.choices.join(', ')}`);
    });
  }

  acceptsPassphrases(): this {
    return this.accepts(submitPassphraseUpdate, PassphraseAnswer);
  }

  /**
   * Ask `question`, answered by `update`; `reply` turns the answer into the Update's result (it may run activities,
   * e.g. try a passphrase). Returns undefined when the timeout passes first.
   */
  async ask<A, R>(update: UpdateDefinition<R, [A]>, question: Omit<Question, 'what'> & { what: string | (() => string) }, reply: (answer: A) => R | Promise<R>): Promise<{ answer: A; reply: R } | undefined> {
    if (!this.accepted.has(update.name)) throw failure('InvalidInput', `this runbook asks for "${update.name}" without accepting it`);
    this.pending = undefined;
    const answered = await this.runbook.waitFor({ what: question.what, who: question.who, answerWith: update.name }, () => this.pending?.update === update.name, question.timeout);
    if (!answered) return undefined;
    const pending = this.pending!;
    try {
      pending.reply = await reply(pending.answer as A);
      return { answer: pending.answer as A, reply: pending.reply as R };
    } catch (error) {
      pending.error = error;
      throw error;
    } finally {
      pending.settled = true;
      pending.answer = undefined; // a sealed passphrase is not kept past its try
      if (this.pending === pending) this.pending = undefined;
    }
  }

  /** Wait as long as it takes for a person's decision among `choices`. */
  async decide(what: string, who: string, choices: readonly Decision['decision'][]): Promise<Decision> {
    this.choices = choices;
    try {
      const decided = await this.ask(decideUpdate, { what: `${what} (choices: ${choices.join(', ')})`, who }, (d) => `${d.decision}, decided by ${d.operator}`);
      return decided!.answer;
    } finally {
      this.choices = [];
    }
  }

  /** The runbook cannot go on by itself: mail the admins how to answer, then wait for their decision, kept in the record. */
  async escalate(escalation: Escalation, about: string, why: string): Promise<Decision> {
    const id = workflowInfo().workflowId;
    const choices = escalation.choices.join('|');
    await summarized(readOnly.mailAdmins, `mail the admins: ${escalation.subject}`)({
      subject: escalation.subject,
      text: `${escalation.text}\n\nDecide with:\n  npx runbook decide ${id} --operator NAME --decision ${choices}${escalation.choices.includes('skip') ? ' [--comment WHY]' : ''}\nor the Temporal UI (Update "decide").`,
      runbook: workflowInfo().workflowType, workflowId: id,
    });
    const decision = await this.decide(escalation.what, escalation.who ?? 'an admin', escalation.choices);
    this.runbook.decided({ about, why, decision: decision.decision, operator: decision.operator, comment: decision.comment, at: new Date().toISOString() });
    return decision;
  }

  /**
   * Ask for a passphrase until `attempt` accepts one. Each try's outcome is the Update's result. Returns the operator
   * who typed the right one; throws when the tries are spent. The sealed value is dropped as soon as it was tried.
   */
  async passphraseFor(question: Question & { tries: number }, attempt: (passphrase: SealedSecret) => Promise<Attempt>): Promise<{ operator: string; tries: number }> {
    for (let tries = 1; ; tries++) {
      const { answer, reply } = (await this.ask(submitPassphraseUpdate, question, async (a): Promise<PassphraseOutcome> => {
        const result = await attempt(a.passphrase);
        const triesLeft = result.exhausted ? 0 : Math.max(0, question.tries - tries);
        const message = result.accepted ? result.message
          : `${result.message}${triesLeft ? `: ${triesLeft} ${triesLeft === 1 ? 'try' : 'tries'} left` : ': no tries left, the runbook stops'}`;
        return { accepted: result.accepted, message, triesLeft };
      }))!;
      if (reply.accepted) return { operator: answer.operator, tries };
      if (reply.triesLeft === 0) {
        throw failure('PassphraseTriesSpent', `${question.what}: ${tries} wrong ${tries === 1 ? 'passphrase' : 'passphrases'}, no tries left`);
      }
    }
  }
}
