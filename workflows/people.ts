/**
 * The runbook waits for people, one way: `ask` a question that one Workflow Update answers. Each runbook says at
 * its top which Updates it takes (`accepts`); an Update's validator accepts it only while the runbook asks that
 * question, so an answer out of turn (or a plaintext passphrase) is refused and never recorded in history. The
 * Update completes with the runbook's reply to the answer, or fails with its words when the answer did not do what
 * was asked (a wrong passphrase): the Temporal UI shows that in red, and the run keeps waiting.
 *
 * On top of `ask`: approvals before anything changes (workflows/approvals.ts), `escalate` (mail the admins, wait for `decide`) when a step
 * cannot go on by itself, and `passphraseFor` (ask until a try is accepted or the tries are spent).
 */
import type { Duration, UpdateDefinition } from '@temporalio/common';
import { ActivityFailure, condition, setHandler, workflowInfo } from '@temporalio/workflow';
import type { z } from 'zod';
import { failure, failureType, type FailureType } from '../common/failures.js';
import { Approval, Decision, PassphraseAnswer } from '../common/inputs.js';
import type { SealedSecret } from '../common/sealed.js';
import { describeIssues } from '../common/validation.js';
import { approveUpdate, decideUpdate, submitPassphraseUpdate, type PassphraseOutcome } from './messages.js';
import { readOnly } from './proxies.js';
import { summarized, type Runbook } from './runbook.js';
import { reasonOf } from './steps.js';

/**
 * Refuse an Update in its validator: Temporal turns a validator's throw into the Update's rejection (nothing is
 * recorded). An InvalidInput, so the UI shows the reason in plain words (common/failure-converter.ts).
 */
export function refuseUpdate(message: string): never {
  throw failure('InvalidInput', message);
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

/** One passphrase try, and how to tell its effect when its answer is lost. */
export interface PassphraseTry {
  /** The try: an activity that never retries (a retry would spend a host try unseen). */
  attempt: (passphrase: SealedSecret) => Promise<Attempt>;
  /** After a try whose answer was lost: did it go through (accepted), or does the host still wait (message says how)? Without it: nothing changed. */
  recheck?: () => Promise<Attempt>;
}

/**
 * A reply saying the answer did not do what was asked (a wrong passphrase, a disk not swapped yet): the Update fails
 * with these words, which the Temporal UI shows in red instead of "Update successful"; the run waits for the next answer.
 */
export class Refusal {
  constructor(readonly message: string, readonly details?: Record<string, unknown>) {}
}
export const refused = (message: string, details?: Record<string, unknown>): Refusal => new Refusal(message, details);

/** What `ask` returns: the answer with the runbook's reply, or with the refusal the sender was given. */
export type Answered<A, R> = { answer: A; reply: R; refused?: undefined } | { answer: A; refused: Refusal; reply?: undefined };

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
  /** The key ids the worker holds, read before passphrases are asked: a value sealed for another key is refused. */
  private sealingKeyIds: readonly string[] = [];

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
    return this.accepts(submitPassphraseUpdate, PassphraseAnswer, ({ passphrase: { keyId } }) => {
      const held = this.sealingKeyIds;
      // (none read: the try itself says the worker cannot open it, and the key ids are read again)
      if (held.length && !held.includes(keyId)) {
        refuseUpdate(`refused:\npassphrase.keyId: sealed for key "${keyId}", which the worker does not hold (it holds ${held.join(', ')}): seal it again with the worker's current public key (npx runbook unlock does)`);
      }
    });
  }

  /**
   * Ask `question`, answered by `update`; `reply` turns the answer into the Update's result (it may run activities,
   * e.g. try a passphrase). A reply that is a `Refusal` (the answer did not do what was asked) fails the Update with
   * its words, so the UI shows it in red, and the run goes on. Returns undefined when the timeout passes first.
   */
  async ask<A, R>(
    update: UpdateDefinition<R, [A]>,
    question: Omit<Question, 'what'> & { what: string | (() => string) },
    reply: (answer: A) => R | Refusal | Promise<R | Refusal>,
  ): Promise<Answered<A, R> | undefined> {
    if (!this.accepted.has(update.name)) throw failure('InvalidInput', `this runbook asks for "${update.name}" without accepting it`);
    this.pending = undefined;
    const answered = await this.runbook.waitFor({ what: question.what, who: question.who, answerWith: update.name }, () => this.pending?.update === update.name, question.timeout);
    if (!answered) return undefined;
    const pending = this.pending!;
    const answer = pending.answer as A;
    try {
      const out = await reply(answer);
      if (out instanceof Refusal) {
        pending.error = failure('AnswerRefused', out.message, ...(out.details ? [out.details] : []));
        return { answer, refused: out };
      }
      pending.reply = out;
      return { answer, reply: out };
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
      const decided = await this.ask(decideUpdate, { what: `${what} (choices: ${choices.join(', ')})`, who }, (d) => `${d.decision}, decided by ${d.by}`);
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
      text: `${escalation.text}\n\nDecide with:\n  npx runbook decide ${id} --by NAME --decision ${choices}${escalation.choices.includes('skip') ? ' [--comment WHY]' : ''}\nor the Temporal UI (Update "decide").`,
      runbook: workflowInfo().workflowType, workflowId: id,
    });
    const decision = await this.decide(escalation.what, escalation.who ?? 'an admin', escalation.choices);
    this.runbook.decided({ about, why, decision: decision.decision, by: decision.by, comment: decision.comment, at: new Date().toISOString() });
    return decision;
  }

  /**
   * Ask for a passphrase until a try is accepted; each try's outcome is the Update's: an accepted one succeeds, a
   * wrong one fails with "wrong passphrase: 2 tries left". A secret that cannot be opened or typed, and a try whose
   * answer was lost (the worker died during it; `recheck` reads the host), spend no try and the run asks again.
   * Returns who typed the right one, or undefined once the tries are spent (the caller decides what then).
   */
  async passphraseFor(question: Question & { tries: number; whenSpent?: string }, passphraseTry: PassphraseTry): Promise<{ by: string; tries: number } | undefined> {
    let spent = 0;
    let exhausted = false;
    const triesLeft = () => (exhausted ? 0 : Math.max(0, question.tries - spent));
    const left = () => {
      const n = triesLeft();
      return n ? `${n} ${n === 1 ? 'try' : 'tries'} left` : `no tries left${question.whenSpent ? `, ${question.whenSpent}` : ''}`;
    };
    // What the validator checks a sealed value against; read again after a value the worker could not open.
    const readKeyIds = async () => {
      this.sealingKeyIds = await summarized(readOnly.sealingKeyIds, 'the sealing keys the worker holds (key ids only)')();
    };
    await readKeyIds();
    for (;;) {
      const answered = (await this.ask(submitPassphraseUpdate, question, async (a): Promise<PassphraseOutcome | Refusal> => {
        let result: Attempt;
        try {
          result = await passphraseTry.attempt(a.passphrase);
        } catch (error) {
          const type = failureType(error);
          if (type && UNUSABLE.includes(type)) {
            await readKeyIds(); // before the reply: the next answer may come at once
            return refused(`${reasonOf(error)} (no try was spent: ${left()})`, { triesLeft: triesLeft() });
          }
          if (!(error instanceof ActivityFailure) || (type && FATAL.includes(type))) throw error;
          // The try's answer was lost: the host says whether it went through before anyone types again.
          const recheck = passphraseTry.recheck ?? (async (): Promise<Attempt> => ({ accepted: false, message: 'nothing was changed' }));
          result = await recheck().catch((again: unknown) => {
            if (!(again instanceof ActivityFailure)) throw again;
            return { accepted: false, message: `the host's state could not be read (${reasonOf(again).split('\n')[0]})` };
          });
          if (!result.accepted) return refused(`the try did not finish (${reasonOf(error).split('\n')[0]}); ${result.message}: type the passphrase again (${left()})`, { triesLeft: triesLeft() });
        }
        if (result.accepted) return { accepted: true, message: result.message, triesLeft: Math.max(0, question.tries - spent - 1) };
        spent += 1;
        exhausted ||= result.exhausted === true;
        return refused(`${result.message}: ${left()}`, { triesLeft: triesLeft() });
      }))!;
      if (answered.reply?.accepted) return { by: answered.answer.by, tries: spent + 1 };
      if (exhausted || spent >= question.tries) return undefined;
    }
  }
}

/** Failure types of a try that say the secret itself cannot be used: no command reached the host. */
const UNUSABLE: readonly FailureType[] = ['SealedSecretRefused', 'PassphraseRefused', 'NoSealingKey'];
/** Failure types of a try after which asking again cannot help. */
const FATAL: readonly FailureType[] = ['HostKeyMismatch', 'UnknownHost'];
