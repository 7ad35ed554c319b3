/**
 * The worker: runs every runbook on task queue `runbooks`, with activities over one SSH pool.
 * Environment: TEMPORAL_ADDRESS (+ namespace, TLS, API key), RUNBOOK_INVENTORY, RUNBOOK_CODEC_KEY(_FILE),
 * RUNBOOK_SEALING_KEY_FILE (the private keys that open sealed passphrases; see activities/secrets.ts).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { SshPool } from '../activities/ssh/pool.js';
import { loadSealingKeys, setSealingKeys } from '../activities/secrets.js';
import { loadInventory } from '../common/inventory.js';
import { PRIVATE_KEY_ENV } from '../common/sealing.js';
import { TASK_QUEUE, temporalSettings, workerDataConverter } from '../common/temporal.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));

export async function runWorker(env = process.env): Promise<void> {
  const inventory = loadInventory(env.RUNBOOK_INVENTORY);
  const settings = temporalSettings(env);
  // A named but unreadable or invalid key file stops the worker; no file at all only disables passphrase steps,
  // so runbooks without LUKS keep running on a worker that was never given one.
  let sealing = 'no sealing key: steps that need a passphrase will fail';
  if (env[PRIVATE_KEY_ENV]) {
    const keys = loadSealingKeys(env);
    setSealingKeys(keys);
    sealing = `sealing keys: ${keys.map((k) => k.keyId).join(', ')}`;
  } else {
    console.warn(`worker: ${PRIVATE_KEY_ENV} is not set, so this worker cannot open sealed passphrases (npm start sets it to .data/sealing.key)`);
  }
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
  console.log(`worker running on task queue ${env.RUNBOOK_TASK_QUEUE || TASK_QUEUE} at ${settings.address}; hosts: ${hosts}${inventory.simulated ? ' (SIMULATED lab hosts)' : ''}; ${sealing}`);
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
