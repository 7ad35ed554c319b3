/**
 * The runbook waits for people: an approval before anything changes, a decision when it cannot go on by itself,
 * a passphrase when a disk must be unlocked. Each answer is a Workflow Update whose validator accepts it only
 * while the runbook asks for it, so an answer out of turn (or a plaintext passphrase) is refused and never
 * recorded in history.
 */
import type { Duration } from '@temporalio/common';
import { condition, setHandler } from '@temporalio/workflow';
import type { z } from 'zod';
import { Approval, Decision, PassphraseAnswer } from '../common/inputs.js';
import type { SealedSecret } from '../common/sealed.js';
import { describeIssues } from '../common/validation.js';
import { approveUpdate, decideUpdate, submitPassphraseUpdate, type PassphraseOutcome } from './messages.js';
import type { Runbook } from './runbook.js';
import { failure } from '../common/failures.js';

/** Validate an Update's argument; the message names fields only, never values (a passphrase could be one). */
function parsed<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new Error(`refused:\n${describeIssues(result.error)}`);
  return result.data;
}

export interface PassphraseRequest {
  /** What is asked, for the operator: which host, which disk. */
  what: string;
  who: string;
  /** How many tries before the runbook stops and escalates. */
  tries: number;
}

/** What one try did with the sealed passphrase. */
export interface Attempt {
  accepted: boolean;
  message: string;
  /** The host has no tries left (the initramfs gave up): stop asking. */
  exhausted?: boolean;
}

export class People {
  private approval?: Approval;
  private decision?: Decision;
  private decisionChoices: readonly Decision['decision'][] = [];
  private passphrase?: { answer: PassphraseAnswer; outcome?: PassphraseOutcome };

  constructor(private readonly runbook: Runbook) {
    const asked = (update: string) => {
      if (runbook.waitingForUpdate !== update) {
        throw new Error(`the runbook is not waiting for "${update}" now${runbook.waitingForUpdate ? ` (it waits for "${runbook.waitingForUpdate}")` : ''}`);
      }
    };
    setHandler(approveUpdate, (answer) => {
      this.approval = answer;
      return `approved by ${answer.approver}`;
    }, { validator: (answer) => { asked('approve'); parsed(Approval, answer); } });

    setHandler(decideUpdate, (answer) => {
      this.decision = answer;
      return `${answer.decision}, decided by ${answer.operator}`;
    }, {
      validator: (answer) => {
        asked('decide');
        const decision = parsed(Decision, answer);
        if (!this.decisionChoices.includes(decision.decision)) throw new Error(`refused: the choices now are ${this.decisionChoices.join(', ')}`);
      },
    });

    // The Update completes with what became of the passphrase, so the operator learns at once whether it was right.
    setHandler(submitPassphraseUpdate, async (answer) => {
      const pending = { answer };
      this.passphrase = pending;
      await condition(() => (pending as { outcome?: PassphraseOutcome }).outcome !== undefined);
      return (pending as { outcome?: PassphraseOutcome }).outcome!;
    }, {
      validator: (answer) => {
        asked('submitPassphrase');
        if (this.passphrase && !this.passphrase.outcome) throw new Error('a passphrase is being tried now: wait for its outcome');
        parsed(PassphraseAnswer, answer);
      },
    });
  }

  /** Wait for the Update `approve`: nothing on a host changes before. */
  async approve(what: string, who: string, timeout: Duration): Promise<Approval> {
    const approved = await this.runbook.waitFor({ what, who, answerWith: 'approve' }, () => this.approval !== undefined, timeout);
    if (!approved) throw failure('NotApproved', `nobody approved within ${String(timeout)}: nothing was changed`);
    return this.approval!;
  }

  /** Wait as long as it takes for a person's decision among `choices`. */
  async decide(what: string, who: string, choices: readonly Decision['decision'][]): Promise<Decision> {
    this.decision = undefined;
    this.decisionChoices = choices;
    await this.runbook.waitFor({ what: `${what} (choices: ${choices.join(', ')})`, who, answerWith: 'decide' }, () => this.decision !== undefined);
    const decision = this.decision!;
    this.decisionChoices = [];
    return decision;
  }

  /**
   * Ask for a passphrase until `attempt` accepts one. Each try's outcome is the Update's result. Returns the operator
   * who typed the right one; throws when the tries are spent. The sealed value is dropped as soon as it was tried.
   */
  async passphraseFor(request: PassphraseRequest, attempt: (passphrase: SealedSecret) => Promise<Attempt>): Promise<{ operator: string; tries: number }> {
    for (let tries = 1; ; tries++) {
      this.passphrase = undefined;
      await this.runbook.waitFor({ what: request.what, who: request.who, answerWith: 'submitPassphrase' }, () => this.passphrase !== undefined);
      const pending = this.passphrase!;
      const result = await attempt(pending.answer.passphrase);
      const triesLeft = result.exhausted ? 0 : Math.max(0, request.tries - tries);
      pending.outcome = {
        accepted: result.accepted,
        message: result.accepted ? result.message : `${result.message}${triesLeft ? `: ${triesLeft} ${triesLeft === 1 ? 'try' : 'tries'} left` : ': no tries left, the runbook stops'}`,
        triesLeft,
      };
      const operator = pending.answer.operator;
      this.passphrase = undefined;
      if (result.accepted) return { operator, tries };
      if (triesLeft === 0) {
        throw failure('PassphraseTriesSpent', `${request.what}: ${tries} wrong ${tries === 1 ? 'passphrase' : 'passphrases'}, no tries left`);
      }
    }
  }
}
