/**
 * One child of `npm start` kept up: started once (a failure to start is the caller's to report), then restarted
 * with backoff whenever it dies, saying on the console which one died, how (exit code or signal), when, and when it
 * comes back. Nothing is restarted once the stack is stopping.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ChildSpec {
  /** For people: "Temporal dev server", "worker"... */
  name: string;
  /** Before each start: throws when the child cannot start (its port is held). */
  check?(): Promise<void>;
  spawn(): ChildProcess;
  /** Resolves once the child serves; a rejection (or the child's exit) makes this start a failure. */
  ready(child: ChildProcess): Promise<void>;
}

export interface SupervisorOptions {
  log(msg: string): void;
  warn(msg: string): void;
  stopping(): boolean;
  /** First restart delay, doubled at each death up to maxDelayMs; back to the first after stableMs of good run. */
  minDelayMs?: number;
  maxDelayMs?: number;
  stableMs?: number;
}

export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

const running = (child: ChildProcess | undefined): child is ChildProcess => !!child && child.exitCode === null && child.signalCode === null;

export function exited(child: ChildProcess): Promise<void> {
  if (!running(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Children run in their own process group (detached): signal the whole group, so nothing is left behind. */
export function signalGroup(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (!running(child) || !child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try { child.kill(signal); } catch { /* already gone */ }
  }
}

export class Supervised {
  child: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private deaths = 0;
  private readyAt = 0;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly stableMs: number;

  constructor(private readonly spec: ChildSpec, private readonly opts: SupervisorOptions) {
    this.minDelayMs = opts.minDelayMs ?? 1_000;
    this.maxDelayMs = opts.maxDelayMs ?? 30_000;
    this.stableMs = opts.stableMs ?? 60_000;
  }

  /** The first start: resolves once the child is ready; rejects if it cannot start or dies first (no restart then). */
  start(): Promise<void> {
    return this.launch();
  }

  /** Stops restarting, then SIGTERM to the child's group, SIGKILL after timeoutMs. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const child = this.child;
    if (!running(child)) return;
    this.opts.log(`stopping ${this.spec.name}...`);
    signalGroup(child, 'SIGTERM');
    const done = await Promise.race([exited(child).then(() => true), sleep(timeoutMs, false, { ref: false })]);
    if (!done) {
      this.opts.warn(`${this.spec.name} did not stop within ${timeoutMs / 1000} s: killing it`);
      signalGroup(child, 'SIGKILL');
      await exited(child);
    }
  }

  private async launch(): Promise<void> {
    await this.spec.check?.();
    if (this.opts.stopping()) return;
    const child = this.spec.spawn();
    this.child = child;
    const early = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`${this.spec.name} exited before it was ready (${describeExit(code, signal)})`)));
    });
    early.catch(() => undefined);
    await Promise.race([this.spec.ready(child), early]);
    if (!running(child)) await early; // died while ready() settled
    this.readyAt = Date.now();
    child.once('exit', (code, signal) => this.died(code, signal));
  }

  private died(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.opts.stopping()) return;
    if (Date.now() - this.readyAt >= this.stableMs) this.deaths = 0;
    this.opts.warn(`${this.spec.name} died (${describeExit(code, signal)}) at ${new Date().toISOString()}`);
    this.restartLater();
  }

  private restartLater(): void {
    const delay = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** this.deaths);
    this.deaths += 1;
    this.opts.warn(`restarting the ${this.spec.name} in ${delay / 1000} s (restart ${this.deaths} in a row)`);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.opts.stopping()) return;
      this.launch().then(
        () => { if (!this.opts.stopping()) this.opts.log(`${this.spec.name} restarted (pid ${this.child?.pid})`); },
        async (error: unknown) => {
          if (this.opts.stopping()) return;
          this.opts.warn(`${this.spec.name} could not restart: ${(error as Error).message}`);
          signalGroup(this.child, 'SIGKILL'); // started but never ready: not left beside the next try
          if (this.child) await exited(this.child);
          if (!this.opts.stopping()) this.restartLater();
        },
      );
    }, delay);
  }
}
