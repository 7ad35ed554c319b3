/**
 * The worker: runs every runbook on task queue `runbooks`, with activities over one SSH pool.
 * Temporal: the standard TEMPORAL_* variables and TOML profiles (common/temporal.ts). Ours (common/settings.ts):
 * RUNBOOK_TASK_QUEUE, RUNBOOK_INVENTORY, RUNBOOK_CODEC_KEY(_FILE), RUNBOOK_SEALING_KEY_FILE (the private keys that
 * open sealed passphrases; see activities/secrets.ts).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import ssh2 from 'ssh2';
import { createActivities } from '../activities/index.js';
import { metricsTelemetry, poolMetrics, waitingForPeopleMetric } from './metrics.js';
import { SshPool } from '../activities/ssh/pool.js';
import { setSealingKeys } from '../activities/secrets.js';
import { loadInventory } from '../common/inventory.js';
import { PRIVATE_KEY_ENV, sealingKeysFromFile } from '../common/sealing.js';
import { readSettings } from '../common/settings.js';
import { clientDataConverter, connectionOptions, temporalSettings, workerDataConverter } from '../common/temporal.js';
import { workflowBundle } from './bundle.js';
import { workerLogger } from './log.js';
import { ensureSearchAttributes } from './search-attributes.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));
/** Bundled with the workflows: refuses a run or an Update whose payload did not go through our codec. */
export const workflowInterceptorsPath = fileURLToPath(new URL('./interceptors.js', import.meta.url));

/**
 * Runbooks kept in the worker's cache between their tasks. A parked runbook (waiting for a person, a resync, a
 * reboot) needs none: when its answer comes, the worker replays its history (a few KB, milliseconds). The SDK's
 * default sizes the cache by heap (thousands here, ~1.7 MiB of RSS each, kept while they wait); 50 holds every
 * runbook that is actually moving on a small infrastructure (more than the 40 workflow tasks run at once), and
 * bounds the worker's memory whatever is parked (npm run bench measures it).
 */
export const MAX_CACHED_WORKFLOWS = 50;

export interface WorkerRun {
  /** The workflows to register (the benchmark adds its own to ours). */
  workflowsPath?: string;
  /** Called once the pool exists (the benchmark reads its counters). */
  onPool?: (pool: SshPool) => void;
  /**
   * More worker options (a test worker's fault-injecting interceptors, test/setup/fault-worker.mjs). Its workflow
   * interceptors come after ours; a prebuilt `workflowBundle` must have been built with ours (workflowInterceptorsPath).
   */
  options?: Partial<WorkerOptions>;
}

export async function runWorker(env = process.env, run: WorkerRun = {}): Promise<void> {
  const settings = readSettings(['taskQueue', 'inventory', 'codecKey', 'codecKeyFile', 'sealingKeyFile', 'metricsPort'], env);
  const temporal = temporalSettings(env);
  const inventory = loadInventory(settings.inventory);
  // A named but unreadable or invalid key file stops the worker; no file at all only disables passphrase steps,
  // so runbooks without LUKS keep running on a worker that was never given one.
  let sealing = 'no sealing key: steps that need a passphrase will fail';
  if (settings.sealingKeyFile) {
    const keys = sealingKeysFromFile(settings.sealingKeyFile);
    setSealingKeys(keys);
    sealing = `sealing keys: ${keys.map((k) => k.keyId).join(', ')}`;
  } else {
    console.warn(`worker: ${PRIVATE_KEY_ENV} is not set, so this worker cannot open sealed passphrases (npm start sets it to .data/sealing.key)`);
  }
  Runtime.install({ logger: workerLogger(), ...(settings.metricsPort !== undefined ? { telemetryOptions: metricsTelemetry(settings.metricsPort) } : {}) });
  const observer = settings.metricsPort !== undefined ? poolMetrics() : undefined;
  const pool = new SshPool({ privateKey: readPrivateKey(inventory.ssh.privateKeyPath), observer });
  run.onPool?.(pool);
  const connection = await NativeConnection.connect(connectionOptions(temporal));
  await ensureSearchAttributes(connection.operatorService, temporal.namespace);
  const { interceptors: moreInterceptors, ...extra } = run.options ?? {};
  const { workflowModules: moreWorkflowModules = [], ...otherInterceptors } = moreInterceptors ?? {};
  const dataConverter = workerDataConverter(settings);
  const bundle = extra.workflowBundle ?? await workflowBundle({
    workflowsPath: run.workflowsPath ?? workflowsPath,
    workflowInterceptorModules: [workflowInterceptorsPath, ...moreWorkflowModules],
    payloadConverterPath: dataConverter.payloadConverterPath,
    failureConverterPath: dataConverter.failureConverterPath,
  }, Runtime.instance().logger);
  const worker = await Worker.create({
    connection,
    namespace: temporal.namespace,
    taskQueue: settings.taskQueue,
    workflowBundle: bundle,
    maxCachedWorkflows: MAX_CACHED_WORKFLOWS,
    // Heartbeats reach the server at most 5 s apart (the SDK would hold them up to 80 % of the 15 s timeout).
    maxHeartbeatThrottleInterval: '5s',
    activities: createActivities(inventory, pool),
    interceptors: otherInterceptors,
    dataConverter,
    ...extra,
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.shutdown());
  const client = new Client({ connection, namespace: temporal.namespace, dataConverter: clientDataConverter(settings) });
  const stopping = new AbortController();
  if (settings.metricsPort !== undefined) waitingForPeopleMetric(client, settings.taskQueue, stopping.signal);
  if (inventory.mail?.requests) {
    // The request mailbox's poller is a workflow: started once per task queue, kept by Temporal, never twice.
    const workflowId = mailIntakeWorkflowId(settings.taskQueue);
    await client.workflow.start('mailIntake', { taskQueue: settings.taskQueue, workflowId, args: [{}], workflowIdConflictPolicy: 'USE_EXISTING' });
    console.log(`worker: the mail intake (${workflowId}) reads ${inventory.mail.requests.address} every 30 s`);
  }
  const hosts = inventory.hosts.map((h) => h.name).join(', ');
  console.log(`worker running on task queue ${settings.taskQueue} at ${temporal.address} (namespace ${temporal.namespace}); hosts: ${hosts}${inventory.simulated ? ' (SIMULATED lab hosts)' : ''}; ${sealing}${settings.metricsPort !== undefined ? `; metrics: http://127.0.0.1:${settings.metricsPort}/metrics` : ''}`);
  try {
    await worker.run();
  } finally {
    stopping.abort();
    pool.close();
    await connection.close();
  }
}

/** The request mailbox's poller of a task queue (workflows/mailIntake.ts). */
export function mailIntakeWorkflowId(taskQueue: string): string {
  return `mail-intake-${taskQueue}`;
}

/** Bigger than any SSH private key (an RSA 16384-bit one is ~12 KB): a larger file is not one. */
const MAX_KEY_BYTES = 64 * 1024;

/**
 * The inventory's ssh.privateKeyPath, read and parsed now: a path that names something else (a public key, a
 * passphrase-protected key, the inventory itself) stops the worker here, naming the path, instead of a worker
 * that says "running" and fails every SSH step. The message never quotes the file.
 */
export function readPrivateKey(path: string): Buffer {
  const where = `ssh.privateKeyPath ${path}`;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new Error(`${where}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let key: Buffer;
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size > MAX_KEY_BYTES) throw new Error(`${where}: is not a private key (${stat.isFile() ? `larger than ${MAX_KEY_BYTES} bytes` : 'not a file'})`);
    key = Buffer.alloc(stat.size);
    key = key.subarray(0, readSync(fd, key, 0, stat.size, 0));
  } finally {
    closeSync(fd);
  }
  const parsed = ssh2.utils.parseKey(key);
  const problem = parsed instanceof Error ? (/passphrase/i.test(parsed.message) ? 'it is protected by a passphrase, which the worker cannot type' : 'not a key ssh can read')
    : Array.isArray(parsed) ? 'it holds more than one key'
    : !parsed.isPrivateKey() ? 'it is a public key'
    : undefined;
  if (problem) {
    key.fill(0);
    throw new Error(`${where}: is not a private key the worker can use (${problem})`);
  }
  return key;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runWorker().catch((error: unknown) => {
    console.error(`worker failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
