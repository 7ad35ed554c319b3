/**
 * Every runbook's messages in one place: the queries people read and the Updates they answer with.
 * Imported by workflows and by clients (our CLI), so both sides agree on names and shapes.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { DiskReplacedAnswer } from '../common/inputs.js';

/** What a runbook is doing now, answered by every runbook. */
export interface Progress {
  runbook: string;
  host?: string;
  step: string;
  stepsDone: number;
  stepsTotal: number;
  /** Set while the runbook waits for a person or for the host. */
  waitingFor?: { what: string; who: string; since: string; answerWith?: string };
  /** Step-specific facts, e.g. the resync's percent, speed and ETA per array. */
  detail?: Record<string, unknown>;
  /** The steps done so far, with how long each took. */
  timeline: { step: string; startedAt: string; seconds: number }[];
}

export const progressQuery = defineQuery<Progress>('progress');

/** The operator says the failed disk was swapped for a new one. */
export const diskReplacedUpdate = defineUpdate<string, [DiskReplacedAnswer]>('diskReplaced');
