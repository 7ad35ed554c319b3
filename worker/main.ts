/**
 * The worker: runs every runbook on task queue `runbooks`, with activities over one SSH pool.
 * Temporal: the standard TEMPORAL_* variables and TOML profiles (common/temporal.ts). Ours (common/settings.ts):
 * RUNBOOK_TASK_QUEUE, RUNBOOK_INVENTORY, RUNBOOK_CODEC_KEY(_FILE), RUNBOOK_SEALING_KEY_FILE (the private keys that
 * open sealed passphrases; see activities/secrets.ts).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import ssh2 from 'ssh2';
import { createActivities } from '../activities/index.js';
import { SshPool } from '../activities/ssh/pool.js';
import { setSealingKeys } from '../activities/secrets.js';
import { loadInventory } from '../common/inventory.js';
import { PRIVATE_KEY_ENV, sealingKeysFromFile } from '../common/sealing.js';
import { readSettings } from '../common/settings.js';
import { clientDataConverter, connectionOptions, temporalSettings, workerDataConverter } from '../common/temporal.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));

export async function runWorker(env = process.env): Promise<void> {
  const settings = readSettings(['taskQueue', 'inventory', 'codecKey', 'codecKeyFile', 'sealingKeyFile'], env);
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
  const pool = new SshPool({ privateKey: readPrivateKey(inventory.ssh.privateKeyPath) });
  const connection = await NativeConnection.connect(connectionOptions(temporal));
  const worker = await Worker.create({
    connection,
    namespace: temporal.namespace,
    taskQueue: settings.taskQueue,
    workflowsPath,
    activities: createActivities(inventory, pool),
    dataConverter: workerDataConverter(settings),
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.shutdown());
  if (inventory.mail?.requests) {
    // The request mailbox's poller is a workflow: started once per task queue, kept by Temporal, never twice.
    const client = new Client({ connection, namespace: temporal.namespace, dataConverter: clientDataConverter(settings) });
    const workflowId = mailIntakeWorkflowId(settings.taskQueue);
    await client.workflow.start('mailIntake', { taskQueue: settings.taskQueue, workflowId, args: [{}], workflowIdConflictPolicy: 'USE_EXISTING' });
    console.log(`worker: the mail intake (${workflowId}) reads ${inventory.mail.requests.address} every 30 s`);
  }
  const hosts = inventory.hosts.map((h) => h.name).join(', ');
  console.log(`worker running on task queue ${settings.taskQueue} at ${temporal.address} (namespace ${temporal.namespace}); hosts: ${hosts}${inventory.simulated ? ' (SIMULATED lab hosts)' : ''}; ${sealing}`);
  try {
    await worker.run();
  } finally {
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
