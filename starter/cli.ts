/**
 * npx runbook — start runbooks, see how they are doing, answer them.
 *
 *   runbook start disk-replacement --host dom0-a [--array md1] [--failed-disk sda] [--swap cold] [--id ID]
 *   runbook start diskReplacement --input request.json
 *   runbook start hypervisor-reboot --host pve1 --reason TEXT [--after-upgrade] [--no-migrate-back] [--up-timeout 15m]
 *   runbook start rolling-cluster-reboot --cluster fma --reason TEXT
 *   runbook start luks-key-rotation --host pve1 [--device /dev/sda5]
 *   runbook list                          running runbooks and what each waits for
 *   runbook progress <workflow-id>
 *   runbook disk-replaced <workflow-id> --operator NAME [--comment TEXT]
 *   runbook plan <workflow-id>            every command the runbook will run, for approval
 *   runbook approve <workflow-id> --approver NAME [--comment TEXT]
 *   runbook decide <workflow-id> --operator NAME --decision retry|abort|force [--comment TEXT]
 *   runbook unlock <workflow-id> [--operator NAME]
 *                                         type a passphrase the runbook asks for (alias: runbook passphrase);
 *                                         hidden on a terminal, else one line per try from stdin; it is sealed
 *                                         with the worker's public key (RUNBOOK_SEALING_PUBLIC_KEY_FILE, default
 *                                         .data/sealing.pub) before it leaves this process
 *   runbook result <workflow-id>          wait for the end and print the result
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { z } from 'zod';
import {
  Approval, Decision, DiskReplacedAnswer, DiskReplacementInput, HypervisorRebootInput, LuksKeyRotationInput, PassphraseAnswer,
  RebootHostInput, RollingClusterRebootInput,
} from '../common/inputs.js';
import { passphraseProblem, sealSecret, sealingPublicKeyFromEnv, type SealingPublicKey } from '../common/sealing.js';
import { readSettings } from '../common/settings.js';
import { connectClient, temporalSettings } from '../common/temporal.js';

const settings = readSettings(['taskQueue', 'codecKey', 'codecKeyFile']);
import { describeIssues } from '../common/validation.js';
import {
  approveUpdate, decideUpdate, diskReplacedUpdate, planQuery, progressQuery, submitPassphraseUpdate, type Plan, type Progress,
} from '../workflows/messages.js';

class UsageError extends Error {}
/** Ctrl-C or Ctrl-D at the passphrase prompt. */
class Cancelled extends Error {}

/** Runbooks by workflow type, with the flag names our CLI accepts for their inputs. */
const RUNBOOKS: Record<string, { type: string; schema: z.ZodType; summary: (input: any) => string }> = {
  'disk-replacement': {
    type: 'diskReplacement',
    schema: DiskReplacementInput,
    summary: (i) => `Disk replacement on ${i.host}`,
  },
  'reboot-host': {
    type: 'rebootHost',
    schema: RebootHostInput,
    summary: (i) => `${i.action} ${i.host}: ${i.reason}`,
  },
  'hypervisor-reboot': {
    type: 'hypervisorReboot',
    schema: HypervisorRebootInput,
    summary: (i) => `Planned reboot of ${i.host}: ${i.reason}`,
  },
  'rolling-cluster-reboot': {
    type: 'rollingClusterReboot',
    schema: RollingClusterRebootInput,
    summary: (i) => `Rolling reboot of cluster ${i.cluster}: ${i.reason}`,
  },
  'luks-key-rotation': {
    type: 'luksKeyRotation',
    schema: LuksKeyRotationInput,
    summary: (i) => `LUKS key rotation on ${i.host}${i.device ? ` (${i.device})` : ''}`,
  },
};

function runbookNamed(name: string) {
  const entry = RUNBOOKS[name] ?? Object.values(RUNBOOKS).find((r) => r.type === name);
  if (!entry) throw new UsageError(`unknown runbook "${name}" (known: ${Object.keys(RUNBOOKS).join(', ')})`);
  return entry;
}

function validated<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new UsageError(`${what} is invalid:\n${describeIssues(parsed.error)}`);
  return parsed.data;
}

function describeProgress(p: Progress): string {
  const waiting = p.waitingFor ? `\n  waiting for ${p.waitingFor.who}: ${p.waitingFor.what}${p.waitingFor.answerWith ? ` (answer: ${p.waitingFor.answerWith})` : ''}` : '';
  const detail = p.detail ? `\n  ${JSON.stringify(p.detail)}` : '';
  return `${p.runbook}${p.host ? ` on ${p.host}` : ''}: step ${p.stepsDone + 1}/${p.stepsTotal} "${p.step}"${waiting}${detail}`;
}

async function start(client: Client, args: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      input: { type: 'string' }, id: { type: 'string' }, host: { type: 'string' }, array: { type: 'string', multiple: true },
      'failed-disk': { type: 'string' }, swap: { type: 'string' }, action: { type: 'string' }, reason: { type: 'string' },
      'resync-poll-interval': { type: 'string' }, cluster: { type: 'string' }, device: { type: 'string' },
      'after-upgrade': { type: 'boolean' }, 'no-migrate-back': { type: 'boolean' }, 'up-timeout': { type: 'string' },
    },
  });
  const runbook = runbookNamed(positionals[0] ?? '');
  const raw = values.input
    ? JSON.parse(readFileSync(values.input, 'utf8'))
    : Object.fromEntries(
        Object.entries({
          host: values.host, arrays: values.array, failedDisk: values['failed-disk'], swap: values.swap,
          action: values.action, reason: values.reason, resyncPollInterval: values['resync-poll-interval'],
          cluster: values.cluster, device: values.device, afterUpgrade: values['after-upgrade'],
          migrateBack: values['no-migrate-back'] ? false : undefined, upTimeout: values['up-timeout'],
        }).filter(([, v]) => v !== undefined),
      );
  const input = validated(runbook.schema, raw, 'the runbook input');
  const target = input as { host?: string; cluster?: string };
  const workflowId = values.id ?? `${positionals[0]}-${target.host ?? target.cluster ?? 'run'}-${Date.now()}`;
  await client.workflow.start(runbook.type, {
    taskQueue: settings.taskQueue,
    workflowId,
    args: [input],
    staticSummary: runbook.summary(input),
    staticDetails: `Started with \`npx runbook\` by ${process.env.USER ?? 'someone'}.`,
  });
  console.log(`started ${runbook.type} as ${workflowId}\n  follow it: npx runbook progress ${workflowId}`);
}

async function list(client: Client): Promise<void> {
  let count = 0;
  for await (const run of client.workflow.list({ query: 'ExecutionStatus = "Running"' })) {
    count += 1;
    const progress = await client.workflow.getHandle(run.workflowId).query(progressQuery).catch(() => undefined);
    console.log(`${run.workflowId}  ${progress ? describeProgress(progress) : run.type}`);
  }
  if (count === 0) console.log('no runbook is running');
}

function describePlan(plan: Plan | undefined): string {
  if (!plan) return 'no plan yet: the runbook has not worked it out (see its progress)';
  const steps = plan.steps.map((s, i) => `  ${String(i + 1).padStart(2)}. [${s.host} ${s.stage}] ${s.command}\n      why: ${s.why}`);
  return [plan.summary, ...steps, ...(plan.facts ? [`facts: ${JSON.stringify(plan.facts)}`] : [])].join('\n');
}

// --- passphrases -------------------------------------------------------------------------------------------
// Kept in Buffers we zero, never in strings (which cannot be wiped), and never printed.

const MAX_PASSPHRASE_BYTES = 4096;

/** One secret per call: hidden typing on a terminal, else the next line of stdin (so scripts and tests can answer). */
interface SecretSource {
  read(prompt: string): Promise<Buffer>;
  readonly interactive: boolean;
}

function secretSource(): SecretSource {
  return process.stdin.isTTY ? { interactive: true, read: readHidden } : stdinLines();
}

/** Raw-mode terminal input without echo: Enter ends, Backspace deletes a character, Ctrl-U the line, Ctrl-C/Ctrl-D cancel. */
function readHidden(prompt: string): Promise<Buffer> {
  const input = process.stdin;
  let buf = Buffer.alloc(256);
  let len = 0;
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  return new Promise<Buffer>((resolve, reject) => {
    const finish = (result: Buffer | Error) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      buf.fill(0);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: Buffer) => {
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i]!;
        if (byte === 0x03) return finish(new Cancelled('cancelled'));
        if (byte === 0x04 && len === 0) return finish(new Cancelled('cancelled'));
        if (byte === 0x0d || byte === 0x0a) {
          const out = Buffer.from(buf.subarray(0, len));
          chunk.fill(0);
          return finish(out);
        }
        if (byte === 0x7f || byte === 0x08) {
          // drop the last UTF-8 character: its continuation bytes (10xxxxxx), then its lead byte
          while (len > 0 && (buf[len - 1]! & 0xc0) === 0x80) len--;
          if (len > 0) len--;
          buf.fill(0, len);
        } else if (byte === 0x15) {
          buf.fill(0, 0, len);
          len = 0;
        } else if (byte === 0x1b) {
          break; // an escape sequence (arrow keys…): not part of a passphrase
        } else if (byte >= 0x20) {
          if (len === MAX_PASSPHRASE_BYTES) continue;
          if (len === buf.length) {
            const bigger = Buffer.alloc(Math.min(buf.length * 2, MAX_PASSPHRASE_BYTES));
            buf.copy(bigger);
            buf.fill(0);
            buf = bigger;
          }
          buf[len++] = byte;
        }
      }
      chunk.fill(0);
    };
    input.on('data', onData);
  });
}

/** Lines of a piped stdin, one per read; what arrives past a line waits for the next read (another try). */
function stdinLines(): SecretSource {
  let pending = Buffer.alloc(0);
  let ended = false;
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  let listening = false;
  const listen = () => {
    if (listening) return;
    listening = true;
    process.stdin.on('data', (chunk: Buffer) => {
      const next = Buffer.concat([pending, chunk]);
      pending.fill(0);
      chunk.fill(0);
      pending = next;
      wake();
    });
    process.stdin.on('end', () => {
      ended = true;
      wake();
    });
  };
  return {
    interactive: false,
    async read(prompt: string) {
      process.stderr.write(`${prompt}(reading one line from stdin)\n`);
      listen();
      process.stdin.resume();
      for (;;) {
        const nl = pending.indexOf(0x0a);
        if (nl >= 0 || (ended && pending.length > 0)) {
          const end = nl >= 0 ? nl : pending.length;
          const line = Buffer.from(pending.subarray(0, end > 0 && pending[end - 1] === 0x0d ? end - 1 : end));
          const rest = Buffer.from(pending.subarray(nl >= 0 ? nl + 1 : pending.length));
          pending.fill(0);
          pending = rest;
          process.stdin.pause();
          return line;
        }
        if (ended) throw new Error('no passphrase on stdin (one line per try)');
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}

async function unlock(client: Client, workflowId: string, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { operator: { type: 'string' } } });
  const operator = values.operator ?? process.env.USER ?? '';
  // Before asking anything: no point typing a passphrase that cannot be sealed.
  const publicKey = sealingPublicKeyFromEnv();
  const handle = client.workflow.getHandle(workflowId);
  const progress = await handle.query(progressQuery);
  const waiting = progress.waitingFor;
  if (waiting?.answerWith !== submitPassphraseUpdate.name) {
    const now = waiting ? `it waits for ${waiting.who}: ${waiting.what}` : `it is at step "${progress.step}"`;
    throw new Error(`${workflowId} does not ask for a passphrase now (${now})`);
  }
  console.error(`${workflowId} asks ${waiting.who}: ${waiting.what}`);
  const source = secretSource();
  try {
    await answerUntilDone(handle, operator, publicKey, source);
  } finally {
    // stdin must not keep the process alive once we are done with it
    process.stdin.pause();
    (process.stdin as { unref?: () => void }).unref?.();
  }
}

async function answerUntilDone(handle: WorkflowHandle, operator: string, publicKey: SealingPublicKey, source: SecretSource): Promise<void> {
  for (;;) {
    const passphrase = await source.read('passphrase: ');
    let answer: PassphraseAnswer;
    try {
      const problem = passphraseProblem(passphrase);
      if (problem) {
        // Checked here too so a typo does not cost one of the host's tries.
        if (!source.interactive) throw new Error(`${problem}; nothing was sent`);
        console.error(`${problem}; nothing was sent, type it again`);
        continue;
      }
      answer = validated(PassphraseAnswer, { operator, passphrase: sealSecret(publicKey, passphrase) }, 'the answer');
    } finally {
      passphrase.fill(0);
    }
    const outcome = await handle.executeUpdate(submitPassphraseUpdate, { args: [answer] });
    console.log(outcome.message);
    if (outcome.accepted) return;
    if (!outcome.triesLeft || outcome.triesLeft <= 0) {
      process.exitCode = 1;
      return;
    }
    console.error(`${outcome.triesLeft} ${outcome.triesLeft === 1 ? 'try' : 'tries'} left`);
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, '').trim());
    return;
  }
  const client = await connectClient(temporalSettings(), settings);
  try {
    const id = rest[0];
    const needId = () => {
      if (!id) throw new UsageError(`"runbook ${command}" needs a workflow id`);
      return client.workflow.getHandle(id);
    };
    switch (command) {
      case 'start': return await start(client, rest);
      case 'list': return await list(client);
      case 'progress': return console.log(describeProgress(await needId().query(progressQuery)));
      case 'result': return console.log(JSON.stringify(await needId().result(), null, 2));
      case 'disk-replaced': {
        const { values } = parseArgs({ args: rest.slice(1), options: { operator: { type: 'string' }, comment: { type: 'string' } } });
        const answer = validated(DiskReplacedAnswer, { operator: values.operator ?? process.env.USER, comment: values.comment }, 'the answer');
        return console.log(await needId().executeUpdate(diskReplacedUpdate, { args: [answer] }));
      }
      case 'plan': return console.log(describePlan(await needId().query(planQuery)));
      case 'approve': {
        const { values } = parseArgs({ args: rest.slice(1), options: { approver: { type: 'string' }, comment: { type: 'string' } } });
        const approval = validated(Approval, { approver: values.approver, comment: values.comment }, 'the approval');
        return console.log(await needId().executeUpdate(approveUpdate, { args: [approval] }));
      }
      case 'decide': {
        const { values } = parseArgs({
          args: rest.slice(1),
          options: { operator: { type: 'string' }, decision: { type: 'string' }, comment: { type: 'string' } },
        });
        const decision = validated(Decision, { operator: values.operator ?? process.env.USER, decision: values.decision, comment: values.comment }, 'the decision');
        return console.log(await needId().executeUpdate(decideUpdate, { args: [decision] }));
      }
      case 'unlock':
      case 'passphrase':
        needId();
        return await unlock(client, id!, rest.slice(1));
      default: throw new UsageError(`unknown command "${command}"; try: runbook help`);
    }
  } finally {
    await client.connection.close();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const cause = error instanceof WorkflowUpdateFailedError && error.cause ? `: ${error.cause.message}` : '';
  console.error(`runbook: ${error instanceof Error ? error.message : String(error)}${cause}`);
  process.exit(error instanceof UsageError ? 2 : error instanceof Cancelled ? 130 : 1);
});
