/**
 * `gnt-node list` on the master: the nodes' disk and memory as Ganeti computes them from the cluster's instances
 * (a DRBD instance uses disk on both its nodes, memory on its primary while it runs).
 */
import type { ExecContext } from '../../core/types.js';
import type { CommandResult } from '../../core/types.js';
import { clusterNodes, listTable, notMaster, type Field, type GntInstance, type WithGaneti } from './cluster.js';

interface NodeRow {
  name: string;
  node: WithGaneti;
  instances: GntInstance[];
}

const on = (row: NodeRow, role: 'pnode' | 'snode') => row.instances.filter((i) => i[role] === row.name);
const MNODE_MIB = 1024;
const diskUsed = (row: NodeRow) => row.instances.filter((i) => i.pnode === row.name || i.snode === row.name).reduce((s, i) => s + i.diskMiB, 0);
const memUsed = (row: NodeRow) => on(row, 'pnode').filter((i) => i.status === 'running').reduce((s, i) => s + i.maxmemMiB, 0);

const FIELDS: Record<string, Field<NodeRow>> = {
  name: (r) => r.name,
  dtotal: (r) => r.node.ganeti!.diskTotalMiB,
  dfree: (r) => r.node.ganeti!.diskTotalMiB - diskUsed(r),
  mtotal: (r) => r.node.ganeti!.memTotalMiB,
  mnode: () => MNODE_MIB,
  mfree: (r) => r.node.ganeti!.memTotalMiB - MNODE_MIB - memUsed(r),
  pinst_cnt: (r) => String(on(r, 'pnode').length),
  sinst_cnt: (r) => String(on(r, 'snode').length),
  pinst_list: (r) => on(r, 'pnode').map((i) => i.name).join(','),
  sinst_list: (r) => on(r, 'snode').map((i) => i.name).join(','),
  master: (r) => (r.node.ganeti!.master === r.name ? 'Y' : 'N'),
  offline: (r) => (r.node.power === 'openssh' ? 'N' : 'Y'),
};
const HEADERS: Record<string, string> = {
  name: 'Node', dtotal: 'DTotal', dfree: 'DFree', mtotal: 'MTotal', mnode: 'MNode', mfree: 'MFree', pinst_cnt: 'Pinst', sinst_cnt: 'Sinst',
  pinst_list: 'PriInstances', sinst_list: 'SecInstances', master: 'IsMaster', offline: 'Offline',
};
const DEFAULTS = ['name', 'dtotal', 'dfree', 'mtotal', 'mnode', 'mfree', 'pinst_cnt', 'sinst_cnt'];

export function gntNode(state: WithGaneti, args: string[], ctx: ExecContext): CommandResult | null {
  if (!state.ganeti) return null;
  const refused = notMaster(state);
  if (refused) return refused;
  if (args[0] !== 'list') return null;
  const instances = state.ganeti.instances ?? [];
  const rows = clusterNodes(state, ctx.lab).map((node) => ({ name: node.name, node, instances }));
  return listTable(rows, args.slice(1), FIELDS, DEFAULTS, HEADERS, 'node');
}
