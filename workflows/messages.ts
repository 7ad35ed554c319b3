/**
 * Every runbook's messages in one place: the queries people read and the Updates they answer with.
 * Imported by workflows and by clients (our CLI), so both sides agree on names and shapes.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Approval, ApprovalRecord, Decision, DiskReplacedAnswer, InstallDoneAnswer, PassphraseAnswer } from '../common/inputs.js';

/** What a runbook is doing now, answered by every runbook. */
export interface Progress {
  runbook: string;
  host?: string;
  step: string;
  stepsDone: number;
  /** Steps this run did not need (e.g. no encrypted disk): done + skipped = total at the end. */
  stepsSkipped: number;
  stepsTotal: number;
  /** Set while the runbook waits for a person or for the host. */
  waitingFor?: {
    what: string; who: string; since: string;
    /** The Update that answers, and what to type as its argument, e.g. `approve {"by": "NAME"}`. */
    answerWith?: string; example?: string;
  };
  /** Signals sent with one of our Updates' names: not answers, recorded so nobody takes them for one. */
  ignoredSignals: { signal: string; at: string; why: string }[];
  /** Step-specific facts, e.g. the resync's percent, speed and ETA per array. */
  detail?: Record<string, unknown>;
  /** The steps done so far, with how long each took, or why it was skipped. */
  timeline: { step: string; startedAt: string; seconds: number; skipped?: string }[];
  /** What people decided when the runbook could not go on by itself, and why it asked. */
  decisions: DecisionRecord[];
  /** The host (and cluster) leases this run holds: no other runbook changes those meanwhile. */
  leases: { resource: string; since: string; from?: string }[];
  /** Once a plan waits for approval: its hash, who approved it, who is awaited. */
  approvals?: { plan: string; approved: ApprovalRecord[]; awaited: string };
}

/** A person's decision on an escalation, as the result and `progress` keep it. */
export interface DecisionRecord {
  /** What could not go on, e.g. "mdadm --manage /dev/md1 --add /dev/sdc3 on dom0-a". */
  about: string;
  /** Why the runbook asked (the failure's message). */
  why: string;
  decision: Decision['decision'];
  by: string;
  comment?: string;
  at: string;
}

export const progressQuery = defineQuery<Progress>('progress');

/**
 * What a person types as each Update's argument (the UI's Update dialog takes JSON): shown with every wait, in
 * `progress`, the run's current details and `npx runbook list`. test/workflow-code.test.ts checks each against its schema.
 */
export const ANSWER_EXAMPLES: Record<string, Record<string, string>> = {
  approve: { by: 'NAME', comment: 'plan checked' },
  decide: { by: 'NAME', decision: 'retry', comment: 'why' },
  diskReplaced: { by: 'NAME' },
  installDone: { by: 'NAME', comment: 'Debian installed' },
  submitPassphrase: { by: 'NAME', passphrase: 'the passphrase (the codec server seals it; or: npx runbook unlock)' },
};

/** `approve {"by": "NAME", …}`: an Update and an argument to type. */
export function answerExample(update: string): string {
  const example = ANSWER_EXAMPLES[update];
  return example ? `${update} ${JSON.stringify(example).replace(/","/g, '", "').replace(/":"/g, '": "')}` : update;
}

/** The operator says the failed disk was swapped for a new one. */
export const diskReplacedUpdate = defineUpdate<string, [DiskReplacedAnswer]>('diskReplaced');

/** A person the inventory's policy names approves the plan shown by the `plan` query (workflows/approvals.ts); nothing changes on a host before. */
/** vmOnboarding: the member (or an admin) says the install is done; the VM then boots from its disk. */
export const installDoneUpdate = defineUpdate<string, [InstallDoneAnswer]>('installDone');

export const approveUpdate = defineUpdate<string, [Approval]>('approve');

/** A person decides what to do when the runbook cannot go on by itself (retry, abort, or force). */
export const decideUpdate = defineUpdate<string, [Decision]>('decide');

/** What became of a passphrase: accepted, or wrong and how many tries the host has left. */
export interface PassphraseOutcome {
  accepted: boolean;
  message: string;
  triesLeft?: number;
}

/** An operator answers a passphrase request; the passphrase must be sealed (see common/sealed.ts). */
export const submitPassphraseUpdate = defineUpdate<PassphraseOutcome, [PassphraseAnswer]>('submitPassphrase');

/** One host-changing command of a plan: what a person approves, and exactly what the runbook then runs. */
export interface PlanStep {
  host: string;
  stage: 'openssh' | 'dropbear';
  command: string;
  why: string;
}

/** Every command a runbook will run, per host and in order, before anything is run: shown for approval. */
export interface Plan {
  summary: string;
  steps: PlanStep[];
  /** Numbers behind the preflight decision (capacity, quorum, /boot space). */
  facts?: Record<string, unknown>;
}

export const planQuery = defineQuery<Plan | undefined>('plan');

// ---------------------------------------------------------------- host leases (workflows/lease.ts)

/**
 * The lease workflow of a resource (`host:dom0-a`, `cluster:fma`) for the runbooks of one task queue (one
 * deployment: its workers run the lease too): `lease-host:dom0-a@runbooks`.
 */
export const leaseWorkflowId = (resource: string, taskQueue: string) => `lease-${resource}@${taskQueue}`;

/** Who asks for a lease, or holds one. */
export interface LeaseHolder {
  workflowId: string;
  runbook: string;
  since: string;
}

/** To the lease workflow of a resource: a runbook asks for it (it is queued; the first in line gets it). */
export const leaseRequestSignal = defineSignal<[LeaseHolder]>('leaseRequest');
/** To the lease workflow: the holder is done with it (or a queued runbook gave up waiting). */
export const leaseReleaseSignal = defineSignal<[{ workflowId: string }]>('leaseRelease');
/** To a runbook: the lease on `resource` is yours now. */
export const leaseGrantedSignal = defineSignal<[{ resource: string }]>('leaseGranted');
/** To a runbook: you wait in line for `resource`, held by `heldBy`. */
export const leaseQueuedSignal = defineSignal<[{ resource: string; heldBy: LeaseHolder }]>('leaseQueued');
/** The lease workflow's state: who holds the resource, who waits. */
export const leaseStateQuery = defineQuery<{ resource: string; holder?: LeaseHolder; queue: LeaseHolder[] }>('leaseState');
