// What the end-to-end tests share: a client with our codec, a lab, a worker process, and patient polling.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { Client, Connection, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { clientDataConverter } from '../../common/temporal.js';
import type { SealedSecret } from '../../common/sealed.js';
import { progressQuery, submitPassphraseUpdate, type Plan, type Progress } from '../../workflows/messages.js';
import type { AuditEntry } from '../../lab/lab.js';
import type { WorkerProcess } from '../setup/worker-process.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `runbook-${prefix}-`));
}

export async function codecClient(address: string, codecKeyFile: string): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, dataConverter: clientDataConverter({ RUNBOOK_CODEC_KEY_FILE: codecKeyFile }) });
}

/**
 * The environment `npx runbook` gets in a test: the suite's dev server, the test's codec key and task queue, and
 * nothing of the person running the suite (a temporal CLI profile in ~/.config/temporalio, a key in their shell).
 */
export function cliEnvironment(o: { address: string; dir: string; codecKeyFile: string; taskQueue: string; extra?: NodeJS.ProcessEnv }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: o.address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_CONFIG_FILE: join(o.dir, 'no-temporal-profile.toml'),
    RUNBOOK_CODEC_KEY_FILE: o.codecKeyFile,
    RUNBOOK_TASK_QUEUE: o.taskQueue,
    ...o.extra,
  };
  delete env.RUNBOOK_CODEC_KEY;
  delete env.TEMPORAL_PROFILE;
  return env;
}

/** A client without our codec: what the Temporal server itself stores. */
export async function rawClient(address: string): Promise<Client> {
  return new Client({ connection: await Connection.connect({ address }) });
}

export async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 90_000, pauseMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/** Resolves once the runbook's `progress` says it waits for the given Update. */
export function waitingFor(handle: WorkflowHandle, update: string): Promise<Progress> {
  return eventually(`${handle.workflowId} to wait for ${update}`, async () => {
    const progress = await handle.query(progressQuery).catch(() => undefined);
    return progress?.waitingFor?.answerWith === update ? progress : undefined;
  });
}

/** The commands that change a host, as the audit log recorded them. */
export const HOST_CHANGES = [/^mdadm --manage \S+ --fail /, /^mdadm --manage \S+ --remove /, /^sfdisk \/dev\/\S+$/, /^mdadm --manage \S+ --add /, /^grub-install /];

export function hostChanges(audit: AuditEntry[]): string[] {
  return audit.filter((e) => e.exitCode === 0 && HOST_CHANGES.some((re) => re.test(e.command))).map((e) => e.command);
}

/** What only reads a host: the plans list the commands that change one, and the audit's reads are set aside. */
const READS = [
  /^cat /, /^lsblk /, /^mdadm --detail /, /^sfdisk --dump /, /^dd if=\S+ bs=440 /, /^xl list$/, /^pvecm (status|nodes)$/, /^pvesh get /,
  /^(qm|pct) config /, /^pvesm status$/, /^df /, /^blkid /, /^dmsetup ls /, /^cryptsetup luksOpen --test-passphrase /, /^hostname$/,
  /^findmnt /, /^vgs /, /^lvs /, /^qm listsnapshot /, /^qm status /, /^getent /, /^sshd -t$/,
  // A detached job's watch and collection (its own unit, its log), and a file's size.
  /^systemctl (show|stop|reset-failed) runbook-/, /^tail -c \d+ \/run\/runbook-/, /^stat /,
];

/** Per host, in order: the commands that changed it and succeeded, as the lab's audit recorded them. */
export function changesByHost(audits: Record<string, AuditEntry[]>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(audits)
    .map(([host, audit]) => [host, audit.filter((e) => e.exitCode === 0 && !READS.some((re) => re.test(e.command))).map((e) => e.command)] as const)
    .filter(([, commands]) => commands.length > 0));
}

/** Per host, in order: the plan's commands. */
export function planByHost(...plans: Plan[]): Record<string, string[]> {
  const byHost: Record<string, string[]> = {};
  for (const step of plans.flatMap((p) => p.steps)) (byHost[step.host] ??= []).push(step.command);
  return byHost;
}

/**
 * With RECORD_HISTORIES=1, store the finished run's history (and its lab-only key) as a replay fixture
 * (test/replay.test.ts replays every one). The workflow id is kept: child ids derive from it.
 */
export async function recordHistory(handle: { workflowId: string; fetchHistory(): Promise<unknown> }, name: string, codecKeyFile: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const fixtures = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));
  writeFileSync(join(fixtures, `${name}.history.pb`), proto.temporal.api.history.v1.History.encode((await handle.fetchHistory()) as never).finish());
  copyFileSync(codecKeyFile, join(fixtures, `${name}.codec.key`));
  writeFileSync(join(fixtures, `${name}.workflow-id`), handle.workflowId);
}

/** What a submitPassphrase said: the accepted outcome's message, or the words a refused one failed with. */
export async function sendPassphrase(handle: WorkflowHandle, passphrase: SealedSecret, by = 'bob'): Promise<string> {
  try {
    return (await handle.executeUpdate(submitPassphraseUpdate, { args: [{ by, passphrase }] })).message;
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError && error.cause) return error.cause.message;
    throw error;
  }
}

/**
 * Answer passphrase requests until the run stops asking (or asks something else); `answers` picks the passphrase
 * from what is asked, the n-th time it is asked. Returns what each answer was told.
 */
export async function answerPassphrases(handle: WorkflowHandle, seal: (passphrase: string) => SealedSecret, answers: (what: string) => string[], outcomes: string[] = []): Promise<string[]> {
  const given = new Map<string, number>();
  for (;;) {
    const progress = await eventually('a passphrase request or the end', async () => {
      const p = await handle.query(progressQuery).catch(() => undefined);
      if (p?.waitingFor?.answerWith === 'submitPassphrase') return p;
      if (p?.waitingFor?.answerWith) return 'asks something else' as const;
      const { status } = await handle.describe();
      return status.name !== 'RUNNING' ? ('done' as const) : undefined;
    });
    if (typeof progress === 'string') return outcomes;
    const what = progress.waitingFor!.what;
    const n = given.get(what) ?? 0;
    given.set(what, n + 1);
    const list = answers(what);
    outcomes.push(await sendPassphrase(handle, seal(list[Math.min(n, list.length - 1)]!)));
  }
}

/** A test file's teardown: the worker stopped (TERM) and awaited, the client closed, then the servers in order; each only if started. */
export async function stopAll(worker: WorkerProcess | undefined, client: Client | undefined, ...servers: ({ stop(): Promise<void> } | undefined)[]): Promise<void> {
  worker?.kill('SIGTERM');
  await worker?.stopped;
  await client?.connection.close();
  for (const server of servers) await server?.stop();
}
