/**
 * The Temporal-facing face of the SSH pool: host lookup, heartbeats, cancellation, failures typed for retry policies.
 */
import { asyncLocalStorage, log, type Context } from '@temporalio/activity';
import { findHost, type BootStage, type Host, type Inventory } from '../../common/inventory.js';
import type { Command } from '../../common/shell.js';
import { HostKeyMismatchError, redact, type ExecResult, type ProbeResult, type SshPool } from './pool.js';
import { failure } from '../../common/failures.js';

export interface RunOptions {
  stage?: BootStage;
  stdin?: Buffer | string;
  secrets?: (string | Buffer)[];
  timeoutMs?: number;
  /** Return a non-zero exit code instead of throwing CommandFailed. */
  allowFailure?: boolean;
}

export interface RemoteShell {
  run(hostName: string, command: Command, opts?: RunOptions): Promise<ExecResult>;
  probe(hostName: string, stage: BootStage, timeoutMs?: number): Promise<ProbeResult>;
}

export const HEARTBEAT_INTERVAL_MS = 5_000;
const STDERR_TAIL_CHARS = 2_000;

/** When each running activity attempt last heartbeated (its scheduling time until it has). */
const lastBeat = new WeakMap<Context, number>();

/**
 * Heartbeat only once the attempt has gone HEARTBEAT_INTERVAL_MS without one: a short step sends none (a heartbeat
 * costs a server round trip), a long command or a long series of short ones in one activity keeps beating, well
 * within the heartbeatTimeout (15 s, workflows/proxies.ts) that lets a retry start soon after a worker dies.
 */
function heartbeatIfDue(ctx: Context): void {
  if (ctx.info.isLocal) return; // a local activity has no heartbeats: the workflow task it runs in stands for it
  const now = Date.now();
  if (now - (lastBeat.get(ctx) ?? ctx.info.currentAttemptScheduledTimestampMs) < HEARTBEAT_INTERVAL_MS) return;
  lastBeat.set(ctx, now);
  ctx.heartbeat();
}

/** The current activity context, or undefined outside an activity (tests, scripts). */
function activityContext(): Context | undefined {
  return asyncLocalStorage.getStore();
}

function lookup(inventory: Inventory, hostName: string): Host {
  const host = findHost(inventory, hostName);
  if (!host) throw failure('UnknownHost', `unknown host "${hostName}": not in the inventory`);
  return host;
}

function asFailure(error: unknown): unknown {
  if (error instanceof HostKeyMismatchError) {
    return failure('HostKeyMismatch', error.message);
  }
  return error;
}

export function remoteShell(pool: SshPool, inventory: Inventory): RemoteShell {
  return {
    async run(hostName, command, opts = {}) {
      const host = lookup(inventory, hostName);
      const stage = opts.stage ?? 'openssh';
      const ctx = activityContext();
      const secrets = [...(opts.secrets ?? []), ...(opts.stdin !== undefined ? [opts.stdin] : [])].map((s) =>
        typeof s === 'string' ? s : s.toString('utf8'),
      );
      const safeText = redact(command.text, secrets);
      const heartbeat = ctx ? setInterval(() => heartbeatIfDue(ctx), 1_000) : undefined;
      let result: ExecResult;
      const started = Date.now();
      try {
        if (ctx) heartbeatIfDue(ctx);
        result = await pool.exec(host, stage, command, {
          stdin: opts.stdin,
          secrets: opts.secrets,
          timeoutMs: opts.timeoutMs,
          signal: ctx?.cancellationSignal,
        });
      } catch (error) {
        throw asFailure(error);
      } finally {
        if (heartbeat) clearInterval(heartbeat);
      }
      // One line per command in the worker's log (worker/log.ts).
      if (ctx) log.info('ssh command', { host: hostName, command: safeText, exitCode: result.exitCode, signal: result.signal, ms: Date.now() - started });
      if (result.exitCode !== 0 && !opts.allowFailure) {
        const status = result.exitCode === null ? `signal ${result.signal ?? 'unknown'}` : `exit code ${result.exitCode}`;
        const tail = result.stderr.trimEnd().slice(-STDERR_TAIL_CHARS);
        throw failure('CommandFailed', `${hostName}: command failed with ${status}: ${safeText}${tail ? `\nstderr: ${tail}` : ''}`, { host: hostName, exitCode: result.exitCode, signal: result.signal ?? null });
      }
      return result;
    },

    async probe(hostName, stage, timeoutMs) {
      const host = lookup(inventory, hostName);
      try {
        return await pool.probe(host, stage, timeoutMs);
      } catch (error) {
        throw asFailure(error);
      }
    },
  };
}
