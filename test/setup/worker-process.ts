/**
 * Runs the real worker (node dist/worker/main.js, so build first: `npm test` does) as a child
 * process, for the tests that kill it (SIGKILL) and start another one.
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTethered } from '../../common/tether.js';
import { WORKER_ENV, WORKER_NODE_FLAGS } from '../../worker/process.js';
import { repoRoot } from '../../scripts/paths.js';

export interface WorkerProcessOptions {
  /** Temporal frontend, host:port (e.g. inject('temporalAddress')). */
  address: string;
  inventoryPath: string;
  codecKeyFile: string;
  /** Passed as RUNBOOK_TASK_QUEUE. */
  taskQueue?: string;
  namespace?: string;
  /** Extra environment, applied last. */
  env?: Record<string, string | undefined>;
  /** Where stdout+stderr go (default: a new file under the OS temp folder). */
  logFile?: string;
  /** How long to wait for "worker running" (default 60 s). */
  readyTimeoutMs?: number;
  /** Another entry point than dist/worker/main.js (e.g. test/setup/fault-worker.mjs). */
  script?: string;
}

export interface WorkerProcess {
  proc: ChildProcess;
  /** The file holding the worker's stdout and stderr. */
  logFile: string;
  /** Sends a signal to the worker (default SIGTERM). */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the exit code (null when ended by a signal) once the process has exited. */
  stopped: Promise<number | null>;
  /** Everything the worker printed so far. */
  output(): string;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Spawns the worker and resolves once it prints a line containing "worker running". */
export function startWorkerProcess(opts: WorkerProcessOptions): Promise<WorkerProcess> {
  const root = repoRoot();
  const logFile = opts.logFile ?? join(mkdtempSync(join(tmpdir(), 'runbook-worker-')), 'worker.log');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: opts.address,
    TEMPORAL_NAMESPACE: opts.namespace ?? 'default',
    RUNBOOK_INVENTORY: opts.inventoryPath,
    RUNBOOK_CODEC_KEY_FILE: opts.codecKeyFile,
  };
  delete env.RUNBOOK_CODEC_KEY;
  if (opts.taskQueue) env.RUNBOOK_TASK_QUEUE = opts.taskQueue;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }

  // Tethered: the worker dies with the test process however it ends.
  const proc = spawnTethered(process.execPath, [...WORKER_NODE_FLAGS, opts.script ?? join(root, 'dist', 'worker', 'main.js')], {
    cwd: root,
    env: { ...WORKER_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  const file = createWriteStream(logFile, { flags: 'a' });
  let text = '';

  const stopped = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => {
      live.delete(proc);
      // let the pipes drain into the log before resolving
      setImmediate(() => {
        file.end();
        resolve(code);
      });
    });
  });

  const handle: WorkerProcess = {
    proc,
    logFile,
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
    stopped,
    output: () => text,
  };

  return new Promise<WorkerProcess>((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      if (ready) return;
      handle.kill('SIGKILL');
      reject(new Error(`worker did not print "worker running" within ${(opts.readyTimeoutMs ?? 60_000) / 1000} s; log ${logFile}:\n${text.slice(-4000)}`));
    }, opts.readyTimeoutMs ?? 60_000);
    const onData = (chunk: Buffer): void => {
      const s = chunk.toString();
      file.write(s);
      text += s;
      if (!ready && /worker running/i.test(text)) {
        ready = true;
        clearTimeout(timer);
        resolve(handle);
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('error', (err) => {
      if (ready) return;
      clearTimeout(timer);
      reject(err);
    });
    void stopped.then((code) => {
      if (ready) return;
      clearTimeout(timer);
      reject(new Error(`worker exited (code ${code}, signal ${proc.signalCode}) before it was running; log ${logFile}:\n${text.slice(-4000)}`));
    });
  });
}
