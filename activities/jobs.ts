/**
 * Detached jobs (common/jobs.ts): start a unit only if none of that name exists, watch it for a while with
 * heartbeats carrying its progress, collect its exit status, clean it up. A worker that dies while watching loses
 * nothing: the retry (or the next watch) reads the same unit again — it re-attaches, it never starts it twice.
 */
import { Context } from '@temporalio/activity';
import { jobs, type Command } from '../common/jobs.js';
import { failure } from '../common/failures.js';
import { lastLine, parseDdBytes, parseUnitState, type UnitState } from './parsers/jobs.js';
import type { RemoteShell } from './ssh/remote.js';

export interface JobStatus {
  unit: string;
  phase: 'running' | 'succeeded' | 'failed';
  exitStatus: number;
  /** Bytes dd copied so far, and of how many (when known): progress for people. */
  bytes: number;
  totalBytes?: number;
  percent?: number;
  /** The last line of its stderr: dd's progress, or why it failed. */
  lastLine: string;
}

const POLL_MS = 1_000;

export function jobActivities(remote: RemoteShell) {
  async function state(host: string, unit: string): Promise<UnitState> {
    return parseUnitState((await remote.run(host, jobs.state(unit))).stdout);
  }

  async function look(host: string, unit: string, totalBytes?: number): Promise<JobStatus> {
    const unitState = await state(host, unit);
    if (unitState.phase === 'absent') {
      throw failure('JobLost', `the job ${unit} is gone from ${host} (a reboot, or someone stopped it) before its end was collected: whether it finished is unknown`);
    }
    const log = (await remote.run(host, jobs.log(unit), { allowFailure: true })).stdout;
    const bytes = parseDdBytes(log);
    return {
      unit, phase: unitState.phase, exitStatus: unitState.exitStatus, bytes, lastLine: lastLine(log),
      ...(totalBytes ? { totalBytes, percent: Math.min(100, Math.round((1000 * bytes) / totalBytes) / 10) } : {}),
    };
  }

  return {
    /** Start the planned `command` (jobs.start) unless a unit of that name exists: then it is re-attached. */
    async startJob(host: string, unit: string, command: Command): Promise<'started' | 're-attached'> {
      if ((await state(host, unit)).exists) return 're-attached';
      await remote.run(host, command);
      return 'started';
    },

    /**
     * Watch the job until it ends or `windowMs` passed, heartbeating its progress; returns where it stands.
     * Short windows keep the workflow's `progress` fresh; the job itself never depends on this activity.
     */
    async watchJob(host: string, unit: string, opts: { windowMs: number; totalBytes?: number }): Promise<JobStatus> {
      const ctx = Context.current();
      const until = Date.now() + opts.windowMs;
      for (;;) {
        const status = await look(host, unit, opts.totalBytes);
        ctx.heartbeat(status);
        if (status.phase !== 'running' || Date.now() + POLL_MS > until) return status;
        await ctx.sleep(POLL_MS);
      }
    },

    /** An ended job's unit removed once its status is collected (stop for a success, reset-failed for a failure). */
    async forgetJob(host: string, unit: string, failed: boolean): Promise<void> {
      if (!(await state(host, unit)).exists) return;
      await remote.run(host, failed ? jobs.resetFailed(unit) : jobs.stop(unit));
    },

    /** A file's size on the host, or null when there is none. */
    async fileSize(host: string, file: string): Promise<number | null> {
      const result = await remote.run(host, jobs.fileSize(file), { allowFailure: true });
      if (result.exitCode !== 0) return null;
      return Number(result.stdout.trim());
    },
  };
}
