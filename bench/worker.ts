/**
 * The benchmark's worker, a child of bench/main.ts: our worker (worker/main.ts, same options) with the bench
 * workflows added. Answers the parent's 'stats' message with its memory and the SSH pool's counters.
 */
import { fileURLToPath } from 'node:url';
import type { SshPool } from '../activities/ssh/pool.js';
import { runWorker } from '../worker/main.js';

let pool: SshPool | undefined;
process.on('message', (message) => {
  if (message !== 'stats') return;
  globalThis.gc?.();
  process.send?.({ memory: process.memoryUsage(), counters: pool?.counters ?? null });
});
runWorker(process.env, { workflowsPath: fileURLToPath(new URL('./workflows.js', import.meta.url)), onPool: (p) => { pool = p; } }).catch((error: unknown) => {
  console.error(`bench worker failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
