/**
 * The benchmark's worker, a child of bench/main.ts: our worker (worker/main.ts, same options) with the bench
 * workflows added. Answers the parent's 'stats' message with its memory, its CPU time (all its threads) and the SSH
 * pool's counters.
 */
import { fileURLToPath } from 'node:url';
import type { SshPool } from '../activities/ssh/pool.js';
import { runWorker } from '../worker/main.js';

let pool: SshPool | undefined;
process.on('message', (message) => {
  if (message !== 'stats') return;
  globalThis.gc?.();
  process.send?.({ memory: process.memoryUsage(), cpu: process.cpuUsage(), counters: pool?.counters ?? null });
});
runWorker(process.env, { workflowsPath: fileURLToPath(new URL('./workflows.js', import.meta.url)), onPool: (p) => { pool = p; } }).then(() => {
  process.disconnect?.(); // the IPC channel to bench/main.ts would keep this process up after the worker stopped
}, (error: unknown) => {
  console.error(`bench worker failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
