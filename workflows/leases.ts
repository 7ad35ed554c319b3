/**
 * A runbook's side of host leases (the lease itself: workflows/lease.ts). `take` asks for every resource the
 * runbook's plan changes, in one sorted order (two runbooks never each hold what the other waits for), and waits in
 * line; `progress` says for what and behind whom. A child runs under its parent's leases. `giveBack` returns them
 * at the end; a run that fails or is terminated loses them anyway (its lease workflows see it no longer runs).
 */
import { CancellationScope, getExternalWorkflowHandle, setHandler, workflowInfo } from '@temporalio/workflow';
import type { InheritedLeases } from '../common/inputs.js';
import { leaseGrantedSignal, leaseQueuedSignal, leaseReleaseSignal, leaseWorkflowId, type LeaseHolder } from './messages.js';
import { readOnly } from './proxies.js';
import { summarized, type Runbook } from './runbook.js';

export const hostLease = (host: string) => `host:${host}`;
export const clusterLease = (cluster: string) => `cluster:${cluster}`;

export class Leases {
  private readonly granted = new Set<string>();
  private readonly queuedBehind = new Map<string, LeaseHolder>();
  private readonly own: string[] = [];

  constructor(private readonly runbook: Runbook) {
    setHandler(leaseGrantedSignal, ({ resource }) => void this.granted.add(resource));
    setHandler(leaseQueuedSignal, ({ resource, heldBy }) => void this.queuedBehind.set(resource, heldBy));
  }

  /** Take the leases on `resources`; those `inherited` from this run's parent are held already. */
  async take(resources: readonly string[], inherited?: InheritedLeases): Promise<void> {
    const me = workflowInfo();
    const fromParent = inherited && inherited.holder === me.parent?.workflowId ? inherited : undefined;
    for (const resource of [...new Set(resources)].sort()) {
      if (this.runbook.leases.some((l) => l.resource === resource)) continue;
      if (fromParent?.resources.includes(resource)) {
        this.runbook.leases.push({ resource, since: new Date().toISOString(), from: fromParent.holder });
        continue;
      }
      await summarized(readOnly.requestLease, `ask for the lease on ${resource}`)(resource, { workflowId: me.workflowId, runbook: me.workflowType, since: new Date().toISOString() });
      await this.runbook.waitFor({
        what: () => {
          const holder = this.queuedBehind.get(resource);
          return `the lease on ${resource}${holder ? `, held by ${holder.runbook} ${holder.workflowId} since ${holder.since}` : ''}`;
        },
        who: 'another runbook to finish with it',
      }, () => this.granted.has(resource));
      this.own.push(resource);
      this.runbook.leases.push({ resource, since: new Date().toISOString() });
    }
  }

  /** The resources held, for a child: it runs under them. */
  forChild(): InheritedLeases {
    return { holder: workflowInfo().workflowId, resources: this.runbook.leases.map((l) => l.resource) };
  }

  /** Give back the leases this run took (not those of its parent), even while the run is being cancelled. */
  async giveBack(): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      for (const resource of this.own.splice(0)) {
        // Taken again later (a run that holds its hosts only while it changes them), it waits for a new grant.
        this.granted.delete(resource);
        // A lease workflow that already ended (it saw this run end) needs nothing more.
        await getExternalWorkflowHandle(leaseWorkflowId(resource, workflowInfo().taskQueue)).signal(leaseReleaseSignal, { workflowId: workflowInfo().workflowId }).catch(() => undefined);
      }
    });
    this.runbook.leases.splice(0);
  }
}
