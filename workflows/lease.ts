/**
 * One runbook changes a host at a time: the lease of one resource (`host:dom0-a`, `cluster:fma`) is a workflow of
 * its own, `lease-<resource>`, in the shape of Temporal's mutex sample. Runbooks ask for it by signal-with-start
 * (an activity, workflows/leases.ts), wait in line, and get it in turn; the holder gives it back when it ends.
 *
 * A holder that ends without giving it back (failed, terminated, timed out) loses it all the same: while a runbook
 * waits in line, the lease workflow looks whether the holder still runs. Durable like any workflow: a worker or
 * server restart changes nothing about who holds what.
 */
import {
  allHandlersFinished, condition, continueAsNew, getExternalWorkflowHandle, proxyActivities, setHandler, workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE } from '../common/failures.js';
import {
  leaseGrantedSignal, leaseQueuedSignal, leaseReleaseSignal, leaseRequestSignal, leaseStateQuery, type LeaseHolder,
} from './messages.js';

export interface LeaseInput {
  resource: string;
  /** Who waits in line: carried over continue-as-new. */
  queue?: LeaseHolder[];
}

const { holderRunning } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
});

const FIRST_CHECK_MS = 30_000;
const MAX_CHECK_MS = 5 * 60_000;

/** Grants before the history is carried over into a new run (bounded history however long the lease lives). */
const GRANTS_PER_RUN = 100;

export async function lease(input: LeaseInput): Promise<void> {
  const { resource } = input;
  let holder: LeaseHolder | undefined;
  const queue: LeaseHolder[] = [...(input.queue ?? [])];
  const released = new Set<string>();

  setHandler(leaseStateQuery, () => ({ resource, holder, queue }));
  setHandler(leaseRequestSignal, (request) => {
    // A retried request, or one from the holder itself, is the same request.
    if (holder?.workflowId === request.workflowId || queue.some((q) => q.workflowId === request.workflowId)) return;
    released.delete(request.workflowId);
    queue.push(request);
  });
  setHandler(leaseReleaseSignal, ({ workflowId }) => {
    released.add(workflowId);
    const queued = queue.findIndex((q) => q.workflowId === workflowId);
    if (queued >= 0) queue.splice(queued, 1);
  });

  /** Tell a runbook something; one that is gone (terminated while it waited) is dropped from the line. */
  async function tell(to: LeaseHolder, send: (h: ReturnType<typeof getExternalWorkflowHandle>) => Promise<void>): Promise<boolean> {
    try {
      await send(getExternalWorkflowHandle(to.workflowId));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Held until its holder gives it back, or ends without doing so. Whether the holder still runs matters only to
   * a runbook waiting in line: only then is it looked at, every 30 s at first, then doubling up to 5 minutes.
   */
  async function heldUntilFree(current: LeaseHolder): Promise<void> {
    const { workflowId } = current;
    const told = new Set<string>();
    let every = FIRST_CHECK_MS;
    for (;;) {
      await condition(() => released.has(workflowId) || queue.length > 0);
      if (released.has(workflowId)) return;
      // Whoever joined the line learns for whom it waits (its `progress` says so).
      for (const waiting of queue.filter((q) => !told.has(q.workflowId))) {
        told.add(waiting.workflowId);
        await tell(waiting, (h) => h.signal(leaseQueuedSignal, { resource, heldBy: current }));
      }
      if (await condition(() => released.has(workflowId), every)) return;
      if (!(await holderRunning(workflowId))) return;
      every = Math.min(every * 2, MAX_CHECK_MS);
    }
  }

  for (let grants = 0; ; ) {
    if (!holder) {
      await condition(() => queue.length > 0, '5 minutes');
      if (!queue.length) break; // nobody asked for a while: the lease workflow ends, the next request starts it again
      const next = queue.shift()!;
      if (!(await tell(next, (h) => h.signal(leaseGrantedSignal, { resource })))) continue;
      holder = { ...next, since: new Date().toISOString() };
      grants++;
    }
    await heldUntilFree(holder);
    released.delete(holder.workflowId);
    holder = undefined;
    if (grants >= GRANTS_PER_RUN && !queue.length) break;
    if (grants >= GRANTS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof lease>({ resource, queue });
    }
  }
  await condition(allHandlersFinished);
}
