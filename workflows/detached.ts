/**
 * A long remote command as a detached job (common/jobs.ts, activities/jobs.ts), from a runbook: started once as a
 * unit named after the run and the step, watched window after window (each window's progress in `progress`),
 * its exit status collected. A worker restart costs a heartbeat timeout: the retried watch reads the same unit.
 * A job that failed or vanished asks a person; only their retry starts a new unit (`…-2`), never a blind retry.
 */
import { msToNumber } from '@temporalio/common/lib/time.js';
import type { Duration } from '@temporalio/common';
import { workflowInfo } from '@temporalio/workflow';
import type { JobStatus } from '../activities/jobs.js';
import { failure, failureType } from '../common/failures.js';
import { jobs, jobUnit, type Command } from '../common/jobs.js';
import type { People } from './people.js';
import { hostChange, jobWatch } from './proxies.js';
import { summarized, type Runbook } from './runbook.js';
import { persist, type PlannedCommand, type Skipped } from './steps.js';

export interface DetachedJob {
  host: string;
  /** The step's short name, part of the unit's: `dd`, `restore`. */
  step: string;
  /** The pipeline the unit runs (common/jobs.ts copies). */
  command: Command;
  why: string;
  /** What the job copies, for its percent. */
  totalBytes?: number;
  /** How long one watch lasts: how often `progress` is refreshed. */
  pollInterval: Duration;
}

/** What the plan shows: the unit's start, as the first attempt sends it. */
export function plannedJob(job: DetachedJob): PlannedCommand {
  return { host: job.host, stage: 'openssh', command: jobs.start(jobUnit(workflowInfo().workflowId, job.step), job.command), why: job.why };
}

/**
 * One attempt of a job as unit number `attempt`: started unless that unit exists already (a retried start
 * re-attaches), watched window after window, collected. A failed or vanished job throws (JobFailed, JobLost).
 */
export async function detachedAttempt(runbook: Runbook, job: DetachedJob, attempt: number): Promise<JobStatus> {
  const { host } = job;
  const unit = jobUnit(workflowInfo().workflowId, job.step, attempt);
  const how = await summarized(hostChange.startJob, `start ${job.step} on ${host} as unit ${unit}`)(host, unit, jobs.start(unit, job.command));
  runbook.detail({ job: unit, started: how });
  let status: JobStatus;
  do {
    status = await summarized(jobWatch.watchJob, `watch ${unit} on ${host}`)(host, unit, { windowMs: msToNumber(job.pollInterval), totalBytes: job.totalBytes });
    runbook.detail({ job: unit, started: how, ...status });
  } while (status.phase === 'running');
  await summarized(hostChange.forgetJob, `collect ${unit} on ${host}`)(host, unit, status.phase === 'failed');
  if (status.phase === 'failed') throw failure('JobFailed', `${unit} on ${host} ended with exit status ${status.exitStatus}: ${status.lastLine}`);
  return status;
}

/** The attempt number of a job's next unit: a job that failed or vanished is done with, a person's retry starts the next. */
export function nextAttempt(attempt: number, error: unknown): number {
  const type = failureType(error);
  return type === 'JobFailed' || type === 'JobLost' ? attempt + 1 : attempt;
}

export async function runDetached(runbook: Runbook, people: People, job: DetachedJob, doneSoFar: () => string): Promise<JobStatus | Skipped> {
  let attempt = 1;
  return persist(people, { host: job.host, title: `${job.command.text} (detached job)`, doneSoFar }, async () => {
    try {
      return await detachedAttempt(runbook, job, attempt);
    } catch (error) {
      attempt = nextAttempt(attempt, error);
      throw error;
    }
  });
}
