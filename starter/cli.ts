/**
 * npx runbook: start runbooks, follow them, answer them. `npx runbook help` lists the runbooks and the commands;
 * `npx runbook start RUNBOOK --help` lists a runbook's flags and the answers it takes, from its descriptor
 * (starter/runbooks.ts); the answers are starter/answers.ts. Every typed value is checked before anything is
 * sent: a mistake exits 2 with a message naming the field, and nothing is started.
 */
import { readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { ActivityFailure, ChildWorkflowFailure } from '@temporalio/common';
import { sealingPublicKeyFromFile, sealingPublicKeyPath } from '../common/sealing.js';
import { describeSettings, readSettings, SettingsError, type Settings } from '../common/settings.js';
import { localCodecKeyFile, readLocalStack } from '../common/local-stack.js';
import type { TemporalSettings } from '../common/temporal.js';
import { planQuery, progressQuery } from '../workflows/messages.js';
import { ANSWERS, answerFor, answerNamed, answerUsage, type Answer, type AnswerContext } from './answers.js';
import { describePlan, describeProgress } from './describe.js';
import { describeFlag, flagHelp, flagUsage, parseFlags, UsageError, validated } from './flags.js';
import { RUNBOOKS, runbookNamed, type Runbook } from './runbooks.js';
import { Cancelled } from './secret-input.js';

/** Our settings this process reads (common/settings.ts), once. */
const SETTING_NAMES = ['taskQueue', 'codecKey', 'codecKeyFile', 'sealingPublicKeyFile', 'dataDir'] as const;

/** What commands share: settings read once, one connection opened on first use. */
class Context implements AnswerContext {
  /** Who runs the CLI: the default operator, and named in the runs it starts. Not a setting of ours. */
  readonly user = process.env.USER || undefined;
  private parsed?: Pick<Settings, (typeof SETTING_NAMES)[number]>;
  private connected?: Promise<Client>;

  settings() {
    if (!this.parsed) {
      const settings = readSettings(SETTING_NAMES);
      // Like the sealing public key: with no key named, the local stack's own, when there is one.
      if (!settings.codecKey && !settings.codecKeyFile) settings.codecKeyFile = localCodecKeyFile(settings.dataDir);
      this.parsed = settings;
    }
    return this.parsed;
  }

  /**
   * The client's modules (gRPC, protobuf: ~0.2 s of a start) load here, on first use: a command refused for its
   * flags or its input answers without them.
   */
  client(): Promise<Client> {
    return (this.connected ??= import('../common/temporal.js').then(({ connectClient, temporalSettings }) =>
      connectClient(this.temporal(temporalSettings()), this.settings())));
  }

  /** Configured like the temporal CLI; with nothing configured, the stack `npm start` runs beside us, if any. */
  private temporal(temporal: TemporalSettings): TemporalSettings {
    if (temporal.addressConfigured) return temporal;
    const local = readLocalStack(this.settings().dataDir);
    return local ? { ...temporal, address: local.temporalAddress } : temporal;
  }

  sealingPublicKey() {
    return sealingPublicKeyFromFile(sealingPublicKeyPath(this.settings()));
  }

  async close(): Promise<void> {
    const client = await this.connected?.catch(() => undefined);
    await client?.connection.close();
  }
}

interface Command {
  name: string;
  aliases?: readonly string[];
  /** As typed after `npx runbook`. */
  usage: string;
  help: string;
  run(args: string[], ctx: Context): Promise<void>;
}

/** A command on one run: `npx runbook NAME ID …`. */
function onRun(name: string, usage: string, help: string, run: (id: string, rest: string[], ctx: Context) => Promise<void>, aliases?: readonly string[]): Command {
  return {
    name, usage, help, ...(aliases ? { aliases } : {}),
    run(args, ctx) {
      const [id, ...rest] = args;
      if (!id || id.startsWith('-')) throw new UsageError(`"runbook ${name}" needs a workflow id`);
      return run(id, rest, ctx);
    },
  };
}

function noMoreArgs(command: string, rest: string[]): void {
  if (rest.length) throw new UsageError(`"runbook ${command}" takes no ${rest[0]!.startsWith('-') ? `flag ${rest[0]}` : `argument "${rest[0]}"`}`);
}

const answerCommand = (a: Answer): Command =>
  onRun(a.command, answerUsage(a), a.help, (id, rest, ctx) => a.run(id, rest, ctx), a.aliases);

const COMMANDS: readonly Command[] = [
  {
    name: 'start',
    usage: 'start RUNBOOK [flags]',
    help: 'start a runbook; its flags are its input (`npx runbook start RUNBOOK --help`)',
    run: start,
  },
  {
    name: 'list',
    usage: 'list',
    help: 'running runbooks: their step, what each waits for and from whom',
    async run(args, ctx) {
      noMoreArgs('list', args);
      const client = await ctx.client();
      // Our runbooks only: those of our task queue (another deployment's have no worker here to answer), not the
      // host leases they hold, nor the request mailbox's poller (a service, not a runbook).
      const query = `ExecutionStatus = "Running" AND TaskQueue = "${ctx.settings().taskQueue}" AND WorkflowType != "lease" AND WorkflowType != "mailIntake"`;
      let count = 0;
      for await (const run of client.workflow.list({ query })) {
        count += 1;
        const progress = await answerWithin(5_000, client.workflow.getHandle(run.workflowId).query(progressQuery));
        console.log(`${run.workflowId}  ${progress ? describeProgress(progress) : `${run.type} (no answer to progress now)`}`);
      }
      if (count === 0) console.log('no runbook is running');
    },
  },
  onRun(progressQuery.name, 'progress ID', 'where a runbook is, and what it waits for from whom', async (id, rest, ctx) => {
    noMoreArgs('progress', rest);
    console.log(describeProgress(await (await ctx.client()).workflow.getHandle(id).query(progressQuery)));
  }),
  onRun(planQuery.name, 'plan ID', 'every command the runbook will run, per host and in order, for approval', async (id, rest, ctx) => {
    noMoreArgs('plan', rest);
    console.log(describePlan(await (await ctx.client()).workflow.getHandle(id).query(planQuery)));
  }),
  onRun('result', 'result ID', 'wait for the end and print the result', async (id, rest, ctx) => {
    noMoreArgs('result', rest);
    console.log(JSON.stringify(await (await ctx.client()).workflow.getHandle(id).result(), null, 2));
  }),
  onRun('audit', 'audit ID [--json]', 'who approved what plan, when and how, and every command run with its exit code and duration, from the history', async (id, rest, ctx) => {
    const json = rest[0] === '--json';
    noMoreArgs('audit', json ? rest.slice(1) : rest);
    const { auditOf, describeAudit } = await import('./audit.js'); // with the client's modules (Context.client)
    const audit = await auditOf(await ctx.client(), id);
    console.log(json ? JSON.stringify(audit, null, 2) : describeAudit(audit));
  }),
  ...ANSWERS.map(answerCommand),
  {
    name: 'help',
    usage: 'help [RUNBOOK | COMMAND]',
    help: 'this text; or one runbook\'s flags and answers; or one command\'s flags',
    async run(args) {
      console.log(args[0] && !args[0].startsWith('-') ? helpOn(args[0]) : overview());
    },
  },
];

function commandNamed(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name || c.aliases?.includes(name));
}

async function start(args: string[], ctx: Context): Promise<void> {
  const [name, ...rest] = args;
  if (!name || name.startsWith('-')) {
    if (name === '--help' || name === '-h') return console.log(runbookList());
    throw new UsageError(`"runbook start" needs a runbook:\n${runbookList()}`);
  }
  const runbook = runbookNamed(name);
  if (!runbook) throw new UsageError(`unknown runbook "${name}" (known: ${RUNBOOKS.map((r) => r.name).join(', ')})`);
  if (wantsHelp(rest)) return console.log(runbookHelp(runbook));
  const { fields, options, positionals } = parseFlags(runbook.flags, rest, { input: { type: 'string' }, id: { type: 'string' } }, `npx runbook start ${runbook.name} --help`);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (see: npx runbook start ${runbook.name} --help)`);
  // Who starts a runbook that takes approvals is named in it: they may not approve their own run.
  const requester = 'requestedBy' in runbook.schema.shape && ctx.user !== undefined ? { requestedBy: ctx.user } : {};
  const input = validated(runbook.schema, { ...requester, ...inputFile(options.input as string | undefined), ...fields }, 'the runbook input', runbook.flags) as Record<string, unknown>;
  const workflowId = (options.id as string | undefined) ?? `${runbook.name}-${String(input[runbook.target] ?? 'run')}-${Date.now()}`;
  const client = await ctx.client();
  await client.workflow.start(runbook.type, {
    taskQueue: ctx.settings().taskQueue,
    workflowId,
    args: [input],
    staticSummary: runbook.summary(input),
    staticDetails: `Started with \`npx runbook\` by ${ctx.user ?? 'someone'}.`,
  });
  console.log(`started ${runbook.type} as ${workflowId}\n  follow it: npx runbook progress ${workflowId}`);
}

/** The query's answer, or undefined when none comes within `ms` (a run whose worker is down answers nothing). */
function answerWithin<T>(ms: number, query: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), ms); });
  return Promise.race([query.catch(() => undefined), late]).finally(() => clearTimeout(timer));
}

/** `--input FILE`: the input as JSON; flags typed too override its fields. */
function inputFile(path: string | undefined): Record<string, unknown> {
  if (path === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`--input ${path}: ${error instanceof SyntaxError ? 'not JSON' : 'cannot read it'} (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`--input ${path}: must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h');

// --- help, from the descriptors ------------------------------------------------------------------------------

function runbookList(): string {
  return flagHelp(RUNBOOKS.map((r) => ({ usage: r.name, help: r.title })));
}

function runbookHelp(r: Runbook): string {
  const required = r.flags.filter((f) => f.required).map((f) => flagUsage(f));
  const answers = r.answers.map((u) => answerFor(u));
  return [
    `npx runbook start ${r.name}: ${r.title}`,
    `workflow type ${r.type}; the input is checked by its schema before anything starts`,
    '',
    `usage: npx runbook start ${r.name} ${[...required, '[flags]'].join(' ')}`,
    '',
    'flags:',
    flagHelp([
      ...r.flags.map(describeFlag),
      { usage: '--input FILE', help: 'the input as a JSON object; flags typed too override its fields' },
      { usage: '--id ID', help: `the workflow id (default ${r.name}-<${r.target}>-<time>)` },
    ]),
    '',
    'while it runs, answer it with:',
    flagHelp(answers.map((a) => ({ usage: `npx runbook ${answerUsage(a)}`, help: a.help }))),
    '',
    `follow it with: ${[...r.queries.map((q) => q.name), 'result'].map((c) => `npx runbook ${c} ID`).join(', ')}`,
  ].join('\n');
}

function commandHelp(c: Command): string {
  const answer = answerNamed(c.name);
  return [
    `usage: npx runbook ${c.usage}${c.aliases ? `   (alias: ${c.aliases.join(', ')})` : ''}`,
    '',
    c.help,
    ...(answer ? ['', `sends the Update "${answer.update}"; flags:`, flagHelp(answer.flags.map(describeFlag))] : []),
  ].join('\n');
}

function helpOn(topic: string): string {
  const runbook = runbookNamed(topic);
  if (runbook) return runbookHelp(runbook);
  const command = commandNamed(topic);
  if (command) return command.name === 'start' ? `${commandHelp(command)}\n\nrunbooks:\n${runbookList()}` : commandHelp(command);
  throw new UsageError(`no runbook or command "${topic}"; try: runbook help`);
}

function overview(): string {
  return [
    'npx runbook: start the wiki\'s runbooks on Temporal, follow them, answer them.',
    '',
    'usage: npx runbook COMMAND [ARGS]    (npx runbook COMMAND --help: one command)',
    '',
    'runbooks (npx runbook start RUNBOOK --help: its flags and the answers it takes):',
    runbookList(),
    '',
    'commands:',
    flagHelp(COMMANDS.map((c) => ({ usage: `${c.usage}${c.aliases ? ` (alias: ${c.aliases.join(', ')})` : ''}`, help: c.help }))),
    '',
    'configuration:',
    '  Temporal, as for the temporal CLI: TEMPORAL_ADDRESS (default 127.0.0.1:7233), TEMPORAL_NAMESPACE,',
    '  TEMPORAL_API_KEY, TEMPORAL_TLS_*, or a TOML profile (TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE)',
    describeSettings(SETTING_NAMES),
  ].join('\n');
}

// --- main ----------------------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') return console.log(overview());
  const command = commandNamed(name);
  if (!command) throw new UsageError(`unknown command "${name}"; try: runbook help`);
  if (command.name !== 'start' && command.name !== 'help' && wantsHelp(rest)) return console.log(commandHelp(command));
  const ctx = new Context();
  try {
    await command.run(rest, ctx);
  } finally {
    await ctx.close();
  }
}

/**
 * An error as a person reads it: a failed run or Update says why through its causes ("Workflow execution failed"
 * alone says nothing), each message once, with the failure's type from common/failures.ts when there is one.
 */
function explain(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 6; e = e.cause, depth++) {
    if (e instanceof ActivityFailure || e instanceof ChildWorkflowFailure) continue; // "Activity task failed": its cause says why
    const type = (e as { type?: unknown }).type;
    const text = typeof type === 'string' && type ? `${e.message} [${type}]` : e.message;
    if (text && !parts.includes(text)) parts.push(text);
  }
  return parts.join(': ') || String(error);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`runbook: ${explain(error)}`);
  process.exit(error instanceof UsageError || error instanceof SettingsError ? 2 : error instanceof Cancelled ? 130 : 1);
});
