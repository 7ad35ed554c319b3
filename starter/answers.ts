/**
 * The answers people give a running runbook: one descriptor per Workflow Update (common/inputs.ts holds the
 * schemas, workflows/messages.ts the definitions), from which `npx runbook <command> ID …` parses its flags,
 * validates, sends, and prints its help. `unlock` is the one whose value is a secret: it is typed at a prompt,
 * never on the command line (starter/secret-input.ts).
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, type UpdateDefinition } from '@temporalio/common';
import type { z } from 'zod';
import { Approval, Decision, DiskReplacedAnswer, InstallDoneAnswer, PassphraseAnswer } from '../common/inputs.js';
import type { SealingPublicKey } from '../common/sealing.js';
import { approvalMessage, planHash } from '../common/approval.js';
import { approveUpdate, decideUpdate, diskReplacedUpdate, installDoneUpdate, planQuery, progressQuery, submitPassphraseUpdate } from '../workflows/messages.js';
import { signWithAgent, signWithKeyFile } from './signing.js';
import { flagsOf, flagUsage, parseFlags, UsageError, validated, type FieldFlags, type Flag } from './flags.js';
import { readSealedSecret, secretSource, type SecretSource } from './secret-input.js';

export interface AnswerContext {
  client(): Promise<Client>;
  /** Who runs the CLI ($USER): the default operator. */
  user: string | undefined;
  sealingPublicKey(): SealingPublicKey;
}

export interface Answer {
  /** The command people type: `npx runbook <command> ID …`. */
  command: string;
  aliases?: readonly string[];
  /** The Update it sends. */
  update: string;
  help: string;
  flags: readonly Flag[];
  run(workflowId: string, args: string[], ctx: AnswerContext): Promise<void>;
}

interface AnswerSpec<S extends z.ZodObject> {
  command: string;
  update: UpdateDefinition<unknown, [z.output<S>]>;
  schema: S;
  /** How the value is named in an error: "the approval is invalid: …". */
  what: string;
  help: string;
  flags: FieldFlags<S>;
  /** The field that defaults to $USER when not given. */
  userField?: keyof z.input<S> & string;
}

/** An Update answered by flags alone: parse, validate, send, print what the runbook said. */
function answer<S extends z.ZodObject>(spec: AnswerSpec<S>): Answer {
  const flags = flagsOf(spec.schema, spec.flags).map((f) => (f.field === spec.userField ? { ...f, required: false, help: `${f.help} (default $USER)` } : f));
  return {
    command: spec.command,
    update: spec.update.name,
    help: spec.help,
    flags,
    async run(workflowId, args, ctx) {
      const { fields, positionals } = parseFlags(flags, args, {}, `npx runbook ${spec.command} --help`);
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (see: npx runbook ${spec.command} --help)`);
      if (spec.userField && fields[spec.userField] === undefined && ctx.user !== undefined) fields[spec.userField] = ctx.user;
      const value = validated(spec.schema, fields, spec.what, flags);
      const client = await ctx.client();
      console.log(await client.workflow.getHandle(workflowId).executeUpdate(spec.update, { args: [value] }));
    },
  };
}

const comment = 'kept in the run\'s record';

export const ANSWERS: readonly Answer[] = [
  approveAnswer(),
  answer({
    command: 'decide',
    update: decideUpdate,
    schema: Decision,
    what: 'the decision',
    help: 'decide what a runbook that cannot go on by itself does; `progress` lists the choices it offers now',
    flags: { by: { help: 'who decides', value: 'NAME' }, decision: 'what to do', comment },
    userField: 'by',
  }),
  answer({
    command: 'disk-replaced',
    update: diskReplacedUpdate,
    schema: DiskReplacedAnswer,
    what: 'the answer',
    help: 'say the failed disk was swapped for a new one',
    flags: { by: { help: 'who swapped it', value: 'NAME' }, comment },
    userField: 'by',
  }),
  answer({
    command: 'install-done',
    update: installDoneUpdate,
    schema: InstallDoneAnswer,
    what: 'the answer',
    help: 'say a member\'s VM is installed (vm-onboarding): it is then switched to boot from its disk',
    flags: { by: { help: 'who says so: the member or an admin, as named in the inventory', value: 'NAME' }, comment },
    userField: 'by',
  }),
  unlockAnswer(),
];

/**
 * `approve ID`: reads the plan the run shows now, hashes it, signs the approval message (workflow id, run id, plan
 * hash, who) with `--key FILE` or the ssh-agent, and sends it with the hash: the run refuses it if its plan
 * changed meanwhile. `--unsigned` (or no key at all) sends it unsigned, which counts only where the policy allows.
 */
function approveAnswer(): Answer {
  const flags: Flag[] = [
    ...flagsOf(Approval, { by: { help: 'who approves: your name in the inventory (default $USER)', value: 'NAME' }, comment, signature: { hidden: true }, plan: { hidden: true } })
      .map((f) => (f.field === 'by' ? { ...f, required: false } : f)),
    { field: 'key', name: 'key', kind: 'string', negate: false, required: false, value: 'FILE', help: 'sign with this SSH key file (a .pub file: its private half in the ssh-agent); default the agent\'s first ssh-ed25519 key' },
    { field: 'unsigned', name: 'unsigned', kind: 'boolean', negate: false, required: false, value: '', help: 'send it unsigned (counts only where the inventory\'s policy allows unsigned approvals)' },
  ];
  return {
    command: 'approve',
    update: approveUpdate.name,
    help: 'approve the plan (see `npx runbook plan ID`), signed with your SSH key; nothing changes on a host before',
    flags,
    async run(workflowId, args, ctx) {
      const { fields, positionals } = parseFlags(flags, args, {}, 'npx runbook approve --help');
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (see: npx runbook approve --help)`);
      const { key, unsigned, ...answer } = fields as { key?: string; unsigned?: boolean; by?: string; comment?: string };
      if (key !== undefined && unsigned) throw new UsageError('--key and --unsigned: choose one');
      answer.by ??= ctx.user;
      validated(Approval, answer, 'the approval', flags); // a bad name is told before anything is read or signed
      const handle = (await ctx.client()).workflow.getHandle(workflowId);
      const plan = await handle.query(planQuery);
      if (!plan) throw new Error(`${workflowId} shows no plan yet: nothing to approve`);
      const hash = planHash(plan);
      const { runId } = await handle.describe();
      const message = approvalMessage({ workflowId, runId, planHash: hash, by: answer.by! });
      const signature = unsigned ? undefined : key !== undefined ? await signWithKeyFile(key, message) : await signWithAgent(message);
      if (!signature && !unsigned) console.error('no --key and no ssh-ed25519 key in an ssh-agent: the approval goes unsigned');
      const value = validated(Approval, { ...answer, plan: hash, ...(signature ? { signature } : {}) }, 'the approval', flags);
      console.log(await handle.executeUpdate(approveUpdate, { args: [value] }));
    },
  };
}

/** `unlock ID`: prompts for the passphrase the runbook asks, seals it, sends it, asks again while tries are left. */
function unlockAnswer(): Answer {
  const flags = flagsOf(PassphraseAnswer, {
    by: { help: 'who types the passphrase (default $USER)', value: 'NAME' },
    passphrase: { hidden: true }, // typed at the prompt, never on a command line
  }).map((f) => ({ ...f, required: false }));
  return {
    command: 'unlock',
    aliases: ['passphrase'],
    update: submitPassphraseUpdate.name,
    help: 'type a passphrase the runbook asks for: hidden on a terminal, else one line per try from stdin; sealed with the worker\'s public key before it leaves this process',
    flags,
    async run(workflowId, args, ctx) {
      const { fields, positionals } = parseFlags(flags, args, {}, 'npx runbook unlock --help');
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (see: npx runbook unlock --help)`);
      const by = (fields.by as string | undefined) ?? ctx.user ?? '';
      // Before asking anything: no point typing a passphrase that cannot be sealed.
      const publicKey = ctx.sealingPublicKey();
      const handle = (await ctx.client()).workflow.getHandle(workflowId);
      const progress = await handle.query(progressQuery);
      const waiting = progress.waitingFor;
      if (waiting?.answerWith !== submitPassphraseUpdate.name) {
        const now = waiting ? `it waits for ${waiting.who}: ${waiting.what}` : `it is at step "${progress.step}"`;
        throw new Error(`${workflowId} does not ask for a passphrase now (${now})`);
      }
      console.error(`${workflowId} asks ${waiting.who}: ${waiting.what}`);
      const source = secretSource();
      try {
        await answerUntilDone(handle, by, publicKey, source);
      } finally {
        source.close(); // stdin must not keep the process alive once we are done with it
      }
    },
  };
}

async function answerUntilDone(handle: WorkflowHandle, by: string, publicKey: SealingPublicKey, source: SecretSource): Promise<void> {
  const { WorkflowUpdateFailedError } = await import('@temporalio/client'); // loaded already, with the handle (cli.ts)
  for (;;) {
    const sealed = await readSealedSecret(source, publicKey, 'passphrase: ');
    const answer = validated(PassphraseAnswer, { by, passphrase: sealed }, 'the answer');
    // A passphrase that did not open fails its Update with why and the tries left; the run asks again.
    const outcome = await handle.executeUpdate(submitPassphraseUpdate, { args: [answer] }).catch((error: unknown) => {
      const refusal = error instanceof WorkflowUpdateFailedError ? error.cause : undefined;
      if (!(refusal instanceof ApplicationFailure) || refusal.type !== 'AnswerRefused') throw error;
      const triesLeft = (refusal.details?.[0] as { triesLeft?: number } | undefined)?.triesLeft;
      return { accepted: false, message: refusal.message, triesLeft };
    });
    console.log(outcome.message);
    if (outcome.accepted) return;
    if (outcome.triesLeft === 0) {
      process.exitCode = 1;
      return;
    }
  }
}

export function answerNamed(command: string): Answer | undefined {
  return ANSWERS.find((a) => a.command === command || a.aliases?.includes(command));
}

export function answerFor(update: { name: string }): Answer {
  const found = ANSWERS.find((a) => a.update === update.name);
  if (!found) throw new UsageError(`no command answers the Update "${update.name}"`);
  return found;
}

/** `answer ID --flag VALUE [--optional VALUE]`, as typed. */
export function answerUsage(a: Answer): string {
  return [`${a.command} ID`, ...a.flags.map((f) => flagUsage(f))].join(' ');
}
