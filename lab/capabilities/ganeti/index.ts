/**
 * Ganeti on a node (cluster.ts): `gnt-node` and `gnt-instance` on the master, refused elsewhere as Ganeti does;
 * `gnt-instance add` also as a detached job (systemd-run, lab/capabilities/jobs) that lasts as long as the add.
 */
import type { Capability } from '../../core/capability.js';
import { jobArgs, simulateJobs, type WithJobs } from '../jobs/index.js';
import { settleInstances, type WithGaneti } from './cluster.js';
import { addInstance, gntInstance } from './gnt-instance.js';
import { gntNode } from './gnt-node.js';

export type { GanetiFacts, GntInstance, WithGaneti } from './cluster.js';
export { accounts, type LabUser, type WithAccounts } from './accounts.js';

simulateJobs({
  matches: (command) => jobArgs(command, 'gnt-instance', 'add') !== null,
  start(state, command, ctx) {
    const node = state as WithJobs & WithGaneti;
    if (!node.ganeti) return { durationMs: 0, exitStatus: 127, output: 'bash: line 1: gnt-instance: command not found\n' };
    const { result, durationMs } = addInstance(node, jobArgs(command, 'gnt-instance', 'add')!, ctx);
    return { durationMs, exitStatus: result.exitCode, output: result.exitCode ? result.stderr : result.stdout.toString('utf8') };
  },
});

export const ganeti: Capability<WithGaneti> = {
  name: 'Ganeti',
  commands: {
    'gnt-instance': (state, args, ctx) => gntInstance(state, args, ctx),
    'gnt-node': (state, args, ctx) => gntNode(state, args, ctx),
  },
  settle: (state, now) => settleInstances(state, now),
  status: (state) => (state.ganeti ? {
    ganeti: { cluster: state.ganeti.cluster, master: state.ganeti.master === state.name, instances: (state.ganeti.instances ?? []).map((i) => `${i.name} ${i.status} ${i.pnode}:${i.snode} port ${i.networkPort} boot ${i.bootOrder}`) },
  } : {}),
};
