/**
 * The benchmark's own stack: `npm start` (dist/scripts/start.js) on its own ports and lab subnet, data and lab in
 * bench/.stack/, so that it never meets a developer's stack. Reused when one already answers there (left by
 * `npm run bench -- --keep`); otherwise started now, and stopped at the end unless --keep.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Inventory } from '../common/inventory.js';
import { spawnTethered } from '../common/tether.js';
import { repoRoot } from '../scripts/paths.js';

export const BENCH_PORTS = { temporal: 17233, ui: 17234, codec: 17235, metrics: 17236 };
export const BENCH_SUBNET = 241;

export interface BenchStack {
  dir: string;
  env: NodeJS.ProcessEnv;
  inventory: Inventory;
  reused: boolean;
  stop(): Promise<void>;
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });
}

export async function benchStack(keep: boolean): Promise<BenchStack> {
  const root = repoRoot();
  const dir = join(root, 'bench', '.stack');
  mkdirSync(dir, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RUNBOOK_DATA_DIR: join(dir, 'data'),
    RUNBOOK_LAB_DIR: join(dir, 'lab'),
    RUNBOOK_LAB_SUBNET: String(BENCH_SUBNET),
    RUNBOOK_TEMPORAL_PORT: String(BENCH_PORTS.temporal),
    RUNBOOK_UI_PORT: String(BENCH_PORTS.ui),
    RUNBOOK_CODEC_PORT: String(BENCH_PORTS.codec),
    RUNBOOK_METRICS_PORT: String(BENCH_PORTS.metrics),
  };
  for (const name of Object.keys(env)) {
    if (/^(TEMPORAL_|RUNBOOK_(INVENTORY|CODEC_KEY|CODEC_TOKEN|SEALING|TASK_QUEUE))/.test(name)) delete env[name];
  }
  const inventoryPath = join(dir, 'lab', 'inventory.json');
  const labSocket = join(dir, 'lab', 'lab.sock');
  let child: ChildProcess | undefined;
  const reused = (await answers(BENCH_PORTS.temporal)) && existsSync(inventoryPath) && existsSync(labSocket);
  if (!reused) {
    const start = join(root, 'dist', 'scripts', 'start.js');
    // Its output in bench/.stack/stack.log. --keep: a stack that outlives this run (its own session); otherwise tethered to us.
    const logPath = join(dir, 'stack.log');
    const fd = openSync(logPath, 'w');
    try {
      child = keep
        ? spawn(process.execPath, [start, '--fresh-lab'], { env, stdio: ['ignore', fd, fd], detached: true })
        : spawnTethered(process.execPath, [start, '--fresh-lab'], { env, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    const deadline = Date.now() + 180_000;
    while (!/worker running/.test(readFileSync(logPath, 'utf8'))) {
      if (child.exitCode !== null) throw new Error(`the bench stack exited (${child.exitCode}):\n${readFileSync(logPath, 'utf8')}`);
      if (Date.now() > deadline) throw new Error(`the bench stack did not start within 180 s:\n${readFileSync(logPath, 'utf8')}`);
      await sleep(200);
    }
    if (keep) child.unref();
  }
  Object.assign(env, {
    TEMPORAL_ADDRESS: `127.0.0.1:${BENCH_PORTS.temporal}`,
    TEMPORAL_NAMESPACE: 'default',
    RUNBOOK_INVENTORY: inventoryPath,
    RUNBOOK_CODEC_KEY_FILE: join(dir, 'data', 'codec.key'),
    RUNBOOK_SEALING_KEY_FILE: join(dir, 'data', 'sealing.key'),
    RUNBOOK_TASK_QUEUE: 'bench',
    RUNBOOK_METRICS_PORT: '', // the bench's own worker exports none (empty is unset)
  });
  const inventory = JSON.parse(readFileSync(inventoryPath, 'utf8')) as Inventory;
  return {
    dir, env, inventory, reused,
    async stop() {
      if (!child || keep || child.exitCode !== null) return;
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGINT');
      await Promise.race([exited, sleep(60_000)]);
    },
  };
}
