/**
 * The two things a lease needs from outside workflow code (workflows/lease.ts): asking for a lease starts its
 * workflow if it does not run yet (signal-with-start, which workflows cannot do themselves), and a held lease
 * checks that its holder still runs. Both through the worker's own client.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { leaseRequestSignal, leaseWorkflowId, type LeaseHolder } from '../workflows/messages.js';

export function leaseActivities() {
  return {
    /** Queue `holder` for the lease on `resource`, starting its lease workflow on this task queue if needed. */
    async requestLease(resource: string, holder: LeaseHolder): Promise<void> {
      const { client, info } = Context.current();
      await client.workflow.signalWithStart('lease', {
        workflowId: leaseWorkflowId(resource, info.taskQueue),
        taskQueue: info.taskQueue,
        args: [{ resource }],
        signal: leaseRequestSignal,
        signalArgs: [holder],
        staticSummary: `Lease on ${resource}: one runbook changes it at a time`,
      });
    },

    /** Whether the workflow holding a lease still runs (a failed or terminated holder gives its leases back). */
    async holderRunning(workflowId: string): Promise<boolean> {
      try {
        const { status } = await Context.current().client.workflow.getHandle(workflowId).describe();
        return status.name === 'RUNNING';
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return false;
        throw error;
      }
    },
  };
}
