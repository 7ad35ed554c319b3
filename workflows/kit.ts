/**
 * How a runbook opens: its steps and `progress` (runbook.ts), the Updates people answer it with (people.ts), its
 * approvals (approvals.ts), its leases (leases.ts), and the `plan` query. Every handler is registered here, before
 * the runbook's first await: an Update or query sent with the start finds it. Registering one writes no history.
 */
import { setHandler } from '@temporalio/workflow';
import { Approvals } from './approvals.js';
import { Leases } from './leases.js';
import { planQuery, type Plan } from './messages.js';
import { People } from './people.js';
import { Runbook } from './runbook.js';

interface Options {
  /** What `progress` names (runbook.ts); a cluster runbook names its cluster. */
  host?: string;
  cluster?: string;
  /** The Updates people answer with, besides `approve` (given with `approvals`) and the runbook's own. */
  decisions?: boolean;
  passphrases?: boolean;
}

export interface OpenRunbook<Title extends string> {
  runbook: Runbook<Title>;
  people: People;
  leases: Leases;
  /** What the `plan` query returns from now on (undefined before); returns the plan it was given. */
  showPlan<P extends Plan>(plan: P): P;
}

/** `approvals: true`: people approve the plan (the `approve` Update); without it, nobody can send one. */
export function openRunbook<Title extends string>(name: string, steps: readonly Title[], options: Options & { approvals: true }): OpenRunbook<Title> & { approvals: Approvals };
export function openRunbook<Title extends string>(name: string, steps: readonly Title[], options?: Options & { approvals?: false }): OpenRunbook<Title>;
export function openRunbook<Title extends string>(name: string, steps: readonly Title[], options: Options & { approvals?: boolean } = {}): OpenRunbook<Title> & { approvals?: Approvals } {
  const runbook = new Runbook<Title>(name, steps, options.host, options.cluster);
  const people = new People(runbook);
  if (options.decisions) people.acceptsDecisions();
  if (options.passphrases) people.acceptsPassphrases();
  const approvals = options.approvals ? new Approvals(people, runbook) : undefined;
  const leases = new Leases(runbook);
  let shown: Plan | undefined;
  setHandler(planQuery, () => shown);
  return { runbook, people, approvals, leases, showPlan: (plan) => (shown = plan) };
}
