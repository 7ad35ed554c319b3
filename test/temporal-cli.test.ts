/**
 * The official `temporal` CLI against a real worker and the codec server, as an admin uses them:
 * - the README's "The temporal CLI" block, run as written (its own ports, task queue and lab substituted);
 * - encrypted payloads only: a run started or an Update sent without the codec is refused with the reason, nothing
 *   run, nothing recorded of the Update; no input at all is not refused for that;
 * - refusals and failed runs read WITHOUT the codec: the reason in plain words, no stack trace.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { DefaultFailureConverter, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { runCodecServer } from '../codec-server/main.js';
import type { RunningCodecServer } from '../codec-server/server.js';
import { AesGcmCodec, codecKeys } from '../common/codec.js';
import { NOT_ENCRYPTED_MESSAGE } from '../common/payload-converter.js';
import { ensureSealingKeyFiles } from '../common/sealing.js';
import { Lab, presets } from '../lab/lab.js';
import { temporalCliPath } from '../scripts/temporal-bin.js';
import { diskReplacedUpdate, progressQuery } from '../workflows/messages.js';
import { codecClient, eventually, rawClient, tempDir } from './helpers/runbooks.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';

const address = inject('temporalAddress');
const TASK_QUEUE = `temporal-cli-${Date.now()}`;
const TOKEN = 'temporal-cli-token-0123456789abcdef';
const REPO = fileURLToPath(new URL('..', import.meta.url));
/** A worker file path or a stack line: what no admin should read beside a reason. */
const STACK = /\n\s+at |\.(ts|js):\d+|dist\/|workflows\//;

let project: string; // the "project folder": .data/codec.token, .lab
let lab: Lab;
let worker: WorkerProcess;
let codecServer: RunningCodecServer;
let client: Client;
let raw: Client;
let bare: Client;

interface Run { code: number; stdout: string; stderr: string }

/** One shell line, in the project folder, with `temporal` on PATH and the suite's dev server as the CLI's default. */
function sh(line: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${dirname(temporalCliPath())}:${process.env.PATH}`,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_CONFIG_FILE: join(project, 'no-temporal-profile.toml'),
    ...extraEnv,
  };
  for (const name of ['TEMPORAL_CODEC_ENDPOINT', 'TEMPORAL_CODEC_AUTH', 'TEMPORAL_PROFILE', 'TEMPORAL_NAMESPACE']) if (!(name in extraEnv)) delete env[name];
  return new Promise((resolve) => {
    execFile('bash', ['-c', line], { cwd: project, env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The README's block that test runs, with this test's codec server, task queue and lab CLI. */
function readmeBlock(): string[] {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const block = readme.match(/<!-- test\/temporal-cli\.test\.ts runs this block[^\n]*-->\n```sh\n([\s\S]*?)```/)?.[1];
  if (!block) throw new Error('README: the block test/temporal-cli.test.ts runs is gone');
  return block.trim().split('\n').map((line) => line
    .replaceAll('http://127.0.0.1:8234', codecServer.url)
    .replaceAll('--task-queue runbooks', `--task-queue ${TASK_QUEUE}`)
    .replaceAll('npx runbook-lab', `node ${join(REPO, 'bin', 'runbook-lab.js')}`));
}

/** What a client without our codec reads: it sends through the codec (else it is refused for that), decodes nothing. */
function encodeOnly(codec: AesGcmCodec) {
  return { encode: (p: Payload[]) => codec.encode(p), decode: async (p: Payload[]) => p };
}

beforeAll(async () => {
  const dir = tempDir('temporal-cli');
  project = join(dir, 'project');
  mkdirSync(join(project, '.data'), { recursive: true });
  lab = await Lab.start({
    dir: join(dir, 'lab'),
    subnet: 237,
    hosts: [presets.xenDom0Raid1('dom0-a', { failedSlot: 0 }), presets.xenDom0Raid1('dom0-b', { failedSlot: 0 })],
  });
  symlinkSync(join(dir, 'lab'), join(project, '.lab'));
  const codecKeyFile = writeTestCodecKey(join(project, '.data'));
  const sealing = { privateFile: join(project, '.data', 'sealing.key'), publicFile: join(project, '.data', 'sealing.pub') };
  ensureSealingKeyFiles(sealing.privateFile, sealing.publicFile);
  writeFileSync(join(project, '.data', 'codec.token'), `${TOKEN}\n`, { mode: 0o600 });
  // As npm start runs it: keys and token from the data folder, no private sealing key.
  codecServer = await runCodecServer(['--port', '0'], {
    RUNBOOK_DATA_DIR: join(project, '.data'), RUNBOOK_CODEC_KEY_FILE: codecKeyFile, RUNBOOK_CODEC_TOKEN_FILE: join(project, '.data', 'codec.token'),
  });
  worker = await startWorkerProcess({
    address, inventoryPath: lab.inventoryPath, codecKeyFile, taskQueue: TASK_QUEUE, env: { RUNBOOK_SEALING_KEY_FILE: sealing.privateFile },
  });
  client = await codecClient(address, codecKeyFile);
  raw = await rawClient(address);
  bare = new Client({
    connection: await Connection.connect({ address }),
    dataConverter: { payloadConverter: defaultPayloadConverter, failureConverter: new DefaultFailureConverter(), payloadCodecs: [encodeOnly(new AesGcmCodec(codecKeys({ codecKeyFile })))] },
  });
});

afterAll(async () => {
  worker?.kill('SIGTERM');
  await worker?.stopped;
  await codecServer?.close();
  for (const c of [client, raw, bare]) await c?.connection.close();
  await lab?.stop();
});

describe('the README\'s temporal CLI block, run as written', () => {
  it('starts a disk replacement, reads its progress (the CLI posts {} to the codec), answers it and reads the result', async () => {
    const lines = readmeBlock();
    const exports = lines.filter((l) => l.startsWith('export ')).join('\n');
    const commands = lines.filter((l) => !l.startsWith('export '));
    expect(commands.map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual([
      'temporal workflow start', 'temporal workflow query', `node ${join(REPO, 'bin', 'runbook-lab.js')} swap-disk`, 'temporal workflow update', 'temporal workflow result',
    ]);
    const [start, query, swap, update, result] = commands.map((c) => () => sh(`${exports}\n${c}`));
    const handle = client.workflow.getHandle('disk-dom0-a');

    const started = await start!();
    expect(started.code, started.stderr).toBe(0);
    // The input went through the codec: encrypted in history.
    const { events } = await raw.workflow.getHandle('disk-dom0-a').fetchHistory();
    const input = events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    expect(Buffer.from(input.metadata!.encoding!).toString()).toBe('binary/encrypted');
    expect(Buffer.from(input.data!).toString('latin1')).not.toContain('dom0-a');

    const progress = await eventually('progress to say diskReplaced', async () => {
      const out = await query!();
      expect(out.code, out.stderr).toBe(0);
      return /"answerWith":\s*"diskReplaced"/.test(out.stdout) ? out.stdout : undefined;
    });
    expect(progress).toMatch(/serial/);

    // An Update sent without the codec: rejected with the reason, the run still waits, nothing recorded.
    const plainUpdate = await sh(commands[3]!.replace('camille', 'mallory'));
    expect(plainUpdate.code).not.toBe(0);
    expect(plainUpdate.stdout + plainUpdate.stderr).toContain(NOT_ENCRYPTED_MESSAGE);
    expect((await handle.query(progressQuery)).waitingFor?.answerWith).toBe(diskReplacedUpdate.name);

    expect((await swap!()).code).toBe(0);
    const answered = await update!();
    expect(answered.code, answered.stderr).toBe(0);
    const done = await result!();
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/COMPLETED/i);
    expect(done.stdout).toContain('md0');

    const history = (await handle.fetchHistory()).events!;
    const updates = history.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
    expect(updates).toHaveLength(1); // camille's; mallory's left nothing
    const added = lab.audit('dom0-a').filter((e) => /mdadm --manage \S+ --add /.test(e.command));
    expect(added.length).toBeGreaterThan(0);
  }, 240_000);
});

describe('encrypted payloads only', () => {
  it('fails a run started with --input but without the codec, with the reason and nothing run; the UI reads it in plain words', async () => {
    const workflowId = `plain-start-${Date.now()}`;
    const before = lab.audit('dom0-b').length;
    const started = await sh(`temporal workflow start --type diskReplacement --task-queue ${TASK_QUEUE} --workflow-id ${workflowId} --input '{"host": "dom0-b"}'`);
    expect(started.code, started.stderr).toBe(0);

    const error = await raw.workflow.getHandle(workflowId).result().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause as { type?: string; message: string; stack?: string };
    expect(cause.type).toBe('NotEncrypted');
    expect(cause.message).toBe(NOT_ENCRYPTED_MESSAGE);
    expect(cause.stack ?? '').not.toMatch(STACK);

    // Nothing ran: no activity, no command to the host.
    const { events } = await raw.workflow.getHandle(workflowId).fetchHistory();
    expect(events!.some((e) => e.activityTaskScheduledEventAttributes)).toBe(false);
    const failed = events!.find((e) => e.workflowExecutionFailedEventAttributes)!.workflowExecutionFailedEventAttributes!.failure!;
    expect(failed.message).toBe(NOT_ENCRYPTED_MESSAGE);
    expect(failed.stackTrace ?? '').toBe('');
    expect(lab.audit('dom0-b')).toHaveLength(before);

    // The temporal CLI without the codec shows the reason too.
    const shown = await sh(`temporal workflow describe --workflow-id ${workflowId}`);
    expect(shown.stdout).toContain('payload not encrypted by the runbook codec');
  });

  it('does not refuse a start without any input for that: the runbook says what is missing, in plain words', async () => {
    const workflowId = `no-input-${Date.now()}`;
    const started = await sh(`temporal workflow start --type diskReplacement --task-queue ${TASK_QUEUE} --workflow-id ${workflowId}`);
    expect(started.code, started.stderr).toBe(0);
    const error = await raw.workflow.getHandle(workflowId).result().then(() => undefined, (e: unknown) => e);
    const cause = (error as WorkflowFailedError).cause as { type?: string; message: string; stack?: string };
    expect(cause.type).toBe('InvalidInput');
    expect(cause.message).toMatch(/^invalid input:/);
    expect(cause.stack ?? '').not.toMatch(STACK);
  });
});

describe('refusals read without the codec', () => {
  it('a validator refusal shows its reason in plain words, without a stack trace', async () => {
    const workflowId = `refusal-${Date.now()}`;
    const handle = await client.workflow.start('diskReplacement', { taskQueue: TASK_QUEUE, workflowId, args: [{ host: 'dom0-b' }] });
    await eventually('dom0-b to wait for diskReplaced', async () => (await handle.query(progressQuery).catch(() => undefined))?.waitingFor?.answerWith === diskReplacedUpdate.name || undefined);
    // Sent encrypted (else it is refused for that), read by a client that decodes nothing.
    const error = await bare.workflow.getHandle(workflowId).executeUpdate(diskReplacedUpdate, { args: [{ by: 'alice', colour: 'blue' } as never] })
      .then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (error as WorkflowUpdateFailedError).cause as { type?: string; message: string; stack?: string };
    expect(cause.type).toBe('InvalidInput');
    expect(cause.message).toMatch(/^refused:\n.*colour/s);
    expect(cause.stack ?? '').not.toMatch(STACK);
    await handle.terminate('test done');
  });

  it('a codec 400 reads as the reason: the temporal CLI prints the body, the codec server logs it, never the value', async () => {
    const workflowId = `codec-400-${Date.now()}`;
    const handle = await client.workflow.start('diskReplacement', { taskQueue: TASK_QUEUE, workflowId, args: [{ host: 'dom0-b' }] });
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      // A Signal, because the CLI gives up on it at the first refusal (it retries an Update's refused encode forever).
      const codec = `--codec-endpoint ${codecServer.url} --codec-auth "Bearer $(cat .data/codec.token)"`;
      const sent = await sh(`temporal workflow signal --workflow-id ${workflowId} --name submitPassphrase ${codec} --input '{"by": "alice", "passphrase": "horse\\nstaple"}'`);
      expect(sent.code).not.toBe(0);
      expect(sent.stderr).toContain('Bad Request: {"error":"payloads[0] passphrase: the passphrase contains a line break');
      expect(String(logged.mock.calls.at(-1)?.[0])).toMatch(/^\[codec-server\] POST \/encode refused \(400\): payloads\[0\] passphrase: the passphrase contains a line break/);
      for (const text of [sent.stdout, sent.stderr, ...logged.mock.calls.map(String)]) expect(text).not.toContain('horse');
    } finally {
      logged.mockRestore();
      await handle.terminate('test done');
    }
  });
});
