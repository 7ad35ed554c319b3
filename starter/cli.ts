/**
 * npx runbook — start runbooks, see how they are doing, answer them.
 *
 *   runbook start disk-replacement --host dom0-a [--array md1] [--failed-disk sda] [--swap cold] [--id ID]
 *   runbook start diskReplacement --input request.json
 *   runbook list                          running runbooks and what each waits for
 *   runbook progress <workflow-id>
 *   runbook disk-replaced <workflow-id> --operator NAME [--comment TEXT]
 *   runbook result <workflow-id>          wait for the end and print the result
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { z } from 'zod';
import { DiskReplacedAnswer, DiskReplacementInput, RebootHostInput } from '../common/inputs.js';
import { TASK_QUEUE, connectClient } from '../common/temporal.js';
import { describeIssues } from '../common/validation.js';
import { diskReplacedUpdate, progressQuery, type Progress } from '../workflows/messages.js';

class UsageError extends Error {}

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
      'resync-poll-interval': { type: 'string' },
    },
  });
  const runbook = runbookNamed(positionals[0] ?? '');
  const raw = values.input
    ? JSON.parse(readFileSync(values.input, 'utf8'))
    : Object.fromEntries(
        Object.entries({
          host: values.host, arrays: values.array, failedDisk: values['failed-disk'], swap: values.swap,
          action: values.action, reason: values.reason, resyncPollInterval: values['resync-poll-interval'],
        }).filter(([, v]) => v !== undefined),
      );
  const input = validated(runbook.schema, raw, 'the runbook input');
  const workflowId = values.id ?? `${positionals[0]}-${(input as { host?: string }).host ?? 'run'}-${Date.now()}`;
  await client.workflow.start(runbook.type, {
    taskQueue: process.env.RUNBOOK_TASK_QUEUE || TASK_QUEUE,
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

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, '').trim());
    return;
  }
  const client = await connectClient();
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
      default: throw new UsageError(`unknown command "${command}"; try: runbook help`);
    }
  } finally {
    await client.connection.close();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const cause = error instanceof WorkflowUpdateFailedError && error.cause ? `: ${error.cause.message}` : '';
  console.error(`runbook: ${error instanceof Error ? error.message : String(error)}${cause}`);
  process.exit(error instanceof UsageError ? 2 : 1);
});
