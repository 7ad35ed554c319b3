/**
 * The worker: runs every runbook on task queue `runbooks`, with activities over one SSH pool.
 * Environment: TEMPORAL_ADDRESS (+ namespace, TLS, API key), RUNBOOK_INVENTORY, RUNBOOK_CODEC_KEY(_FILE).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { SshPool } from '../activities/ssh/pool.js';
import { loadInventory } from '../common/inventory.js';
import { TASK_QUEUE, temporalSettings, workerDataConverter } from '../common/temporal.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));

export async function runWorker(env = process.env): Promise<void> {
  const inventory = loadInventory(env.RUNBOOK_INVENTORY);
  const settings = temporalSettings(env);
  const pool = new SshPool({ privateKey: readFileSync(inventory.ssh.privateKeyPath) });
  const connection = await NativeConnection.connect({
    address: settings.address,
    tls: settings.tls,
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  });
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: env.RUNBOOK_TASK_QUEUE || TASK_QUEUE,
    workflowsPath,
    activities: createActivities(inventory, pool),
    dataConverter: workerDataConverter(env),
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.shutdown());
  const hosts = inventory.hosts.map((h) => h.name).join(', ');
  console.log(`worker running on task queue ${env.RUNBOOK_TASK_QUEUE || TASK_QUEUE} at ${settings.address}; hosts: ${hosts}${inventory.simulated ? ' (SIMULATED lab hosts)' : ''}`);
  try {
    await worker.run();
  } finally {
    pool.close();
    await connection.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runWorker().catch((error: unknown) => {
    console.error(`worker failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
