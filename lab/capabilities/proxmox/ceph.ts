/**
 * Ceph on the Proxmox nodes (pveceph), as the page builds it: OSDs per node and one replicated pool. Each node's
 * state holds its own OSDs; the pool is the cluster's (every node holds the same settings). An OSD marked out
 * sheds its placement groups over `drainMs`, as recovery would move the data: `ceph osd safe-to-destroy` says
 * EBUSY with the PGs still mapped until then. Commands: `ceph osd tree --format json`, `ceph osd pool ls detail
 * --format json`, `ceph osd ok-to-stop|out|safe-to-destroy N`, `systemctl stop|is-active ceph-osd@N`,
 * `pveceph osd destroy N`, the monitors (`ceph mon dump --format json`, `ceph mon ok-to-rm ID`, `pveceph mon destroy ID`)
 * and managers (`ceph mgr dump --format json`, `pveceph mgr destroy ID`), and the pool (`pveceph pool destroy NAME`).
 */
import type { Capability } from '../../core/capability.js';
import { fail, ok, type CommandResult, type ExecContext, type LabView } from '../../core/types.js';
import { clusterNodes, type PveNodeState } from './cluster.js';

export interface CephOsd {
  id: number;
  in: boolean;
  /** The ceph-osd@N unit runs. */
  up: boolean;
  pgs: number;
  /** When it was marked out: its PGs leave over the pool's drainMs. */
  outAt?: number;
}

export interface CephState {
  osds: CephOsd[];
  /** A monitor and a manager on this node (pveceph names them after the node); the first manager is the active one. */
  mon?: boolean;
  mgr?: boolean;
  /** Null once `pveceph pool destroy` removed it: no placement group left to move. */
  pool: { name: string; size: number; minSize: number; drainMs: number } | null;
}

type Node = PveNodeState & { ceph: CephState };
const has = (s: PveNodeState | undefined): s is Node => s?.ceph !== undefined;
const EBUSY = 16;

/** The PGs still mapped to an OSD: all while in, none once drained. */
function pgsLeft(osd: CephOsd, drainMs: number | undefined, now: number): number {
  if (drainMs === undefined) return 0;
  if (osd.in || osd.outAt === undefined) return osd.pgs;
  return Math.max(0, Math.ceil(osd.pgs * (1 - (now - osd.outAt) / drainMs)));
}

function cephNodes(state: Node, lab: LabView): Node[] {
  return clusterNodes(state, lab).filter(has);
}

function findOsd(state: Node, lab: LabView, id: string | undefined): { node: Node; osd: CephOsd } | undefined {
  for (const node of cephNodes(state, lab)) {
    const osd = node.ceph.osds.find((o) => String(o.id) === id?.replace(/^osd\./, ''));
    if (osd) return { node, osd };
  }
  return undefined;
}

/** `ceph osd tree --format json`: the root, one host bucket per node with OSDs, the OSDs (reweight 0 when out). */
function tree(state: Node, lab: LabView): string {
  const nodes = cephNodes(state, lab).filter((n) => n.ceph.osds.length);
  const hostId = (i: number) => -2 - i;
  const out: Record<string, unknown>[] = [{ id: -1, name: 'default', type: 'root', type_id: 11, children: nodes.map((_, i) => hostId(i)) }];
  nodes.forEach((n, i) => {
    out.push({ id: hostId(i), name: n.name, type: 'host', type_id: 1, pool_weights: {}, children: n.ceph.osds.map((o) => o.id).reverse() });
    for (const o of n.ceph.osds) {
      out.push({ id: o.id, device_class: 'hdd', name: `osd.${o.id}`, type: 'osd', type_id: 0, crush_weight: 0.9, depth: 2, pool_weights: {}, exists: 1, status: o.up ? 'up' : 'down', reweight: o.in ? 1 : 0, primary_affinity: 1 });
    }
  });
  return `${JSON.stringify({ nodes: out, stray: [] })}\n`;
}

function osdCommand(state: Node, args: string[], ctx: ExecContext): CommandResult | null {
  const [verb, id, ...rest] = args;
  if (verb === 'tree' && id === '--format' && rest.join(' ') === 'json') return ok(tree(state, ctx.lab));
  const { pool } = state.ceph;
  if (verb === 'pool' && args.slice(1).join(' ') === 'ls detail --format json') {
    return ok(`${JSON.stringify(pool ? [{ pool: 1, pool_name: pool.name, type: 1, size: pool.size, min_size: pool.minSize, pg_num: 128, crush_rule: 0 }] : [])}\n`);
  }
  if (!verb || !['ok-to-stop', 'out', 'safe-to-destroy'].includes(verb) || rest.length) return null;
  const found = findOsd(state, ctx.lab, id);
  if (!found) return fail(2, `Error ENOENT: osd.${id} does not exist\n`);
  const { osd } = found;
  const others = cephNodes(state, ctx.lab).flatMap((n) => n.ceph.osds).filter((o) => o !== osd && o.in && o.up).length;
  if (verb === 'ok-to-stop') {
    // With one replica per OSD host, the PGs stay available while min_size copies remain.
    if (pool && others < pool.minSize) return fail(EBUSY, `Error EBUSY: ${osd.pgs} PGs are already too degraded, would become too degraded or might become unavailable\n`);
    return ok(`OSD(s) ${osd.id} are ok to stop without reducing availability or risking data, provided there are no other concurrent failures or interventions.\n${osd.pgs} PGs are likely to be degraded (but remain available) as a result.\n`);
  }
  if (verb === 'out') {
    if (!osd.in) return ok('', `osd.${osd.id} is already out. \n`);
    osd.in = false;
    osd.outAt = ctx.now;
    return ok('', `marked out osd.${osd.id}. \n`);
  }
  const left = pgsLeft(osd, pool?.drainMs, ctx.now);
  if (left > 0 || (pool && others < pool.size)) return fail(EBUSY, `Error EBUSY: OSD(s) ${osd.id} have ${Math.max(left, 1)} pgs currently mapped to them. \n`);
  return ok(`OSD(s) ${osd.id} are safe to destroy without reducing data durability.\n`);
}

/** The monitors, one per node that has one; those of nodes that are down are out of the quorum. */
function monCommand(state: Node, args: string[], ctx: ExecContext): CommandResult | null {
  const mons = cephNodes(state, ctx.lab).filter((n) => n.ceph.mon);
  if (args.join(' ') === 'dump --format json') {
    return ok(`${JSON.stringify({ epoch: mons.length, mons: mons.map((n, rank) => ({ rank, name: n.name, addr: `${n.address}:6789/0` })), quorum: mons.map((n, rank) => (n.power === 'openssh' ? rank : -1)).filter((r) => r >= 0) })}\n`);
  }
  if (args.length !== 2 || args[0] !== 'ok-to-rm') return null;
  const id = args[1]!;
  if (!mons.some((n) => n.name === id)) return ok('', `mon.${id} does not exist or has already been removed\n`);
  const quorum = mons.filter((n) => n.power === 'openssh').map((n) => n.name);
  const after = quorum.filter((n) => n !== id);
  if (after.length < Math.floor((mons.length - 1) / 2) + 1 || !after.length) {
    return fail(EBUSY, `Error EBUSY: removing mon.${id} would break quorum (current quorum: ${quorum.join(',')}, monmap: ${mons.map((n) => n.name).join(',')})\n`);
  }
  return ok('', `quorum should be preserved (${after.join(',')}) after removing mon.${id}\n`);
}

/** `ceph mgr dump`: the active manager (the first node's that runs) and the standbys. */
function mgrDump(state: Node, lab: LabView): string {
  const mgrs = cephNodes(state, lab).filter((n) => n.ceph.mgr && n.power === 'openssh').map((n) => n.name);
  return `${JSON.stringify({ epoch: 10, active_name: mgrs[0] ?? '', available: mgrs.length > 0, standbys: mgrs.slice(1).map((name) => ({ gid: 4000, name })) })}\n`;
}

function systemctl(state: Node, args: string[]): CommandResult | null {
  const [verb, unit] = args;
  const m = /^ceph-osd@(\d+)(\.service)?$/.exec(unit ?? '');
  const osd = m && state.ceph.osds.find((o) => o.id === Number(m[1]));
  if (args.length !== 2 || !osd) return null;
  if (verb === 'is-active') return osd.up ? ok('active\n') : fail(3, '', 'inactive\n');
  if (verb === 'stop') { osd.up = false; return ok(); }
  return null;
}

/**
 * `pveceph pool destroy NAME`: the pool goes from every node's view. The lab refuses while a guest disk of the
 * cluster lives on it (a storage of the pool's name, as `--add_storages` made it): its data would be gone.
 */
function poolDestroy(state: Node, name: string, lab: LabView): CommandResult {
  if (state.ceph.pool?.name !== name) return fail(255, `pool ${name} does not exist\n`);
  const used = clusterNodes(state, lab).flatMap((n) => n.guests).flatMap((g) => g.disks).filter((d) => d.storage === name).map((d) => d.volume);
  if (used.length) return fail(255, `pool ${name} is still in use by ${used.join(', ')}\n`);
  for (const n of cephNodes(state, lab)) n.ceph.pool = null;
  return ok();
}

function pveceph(state: Node, args: string[], lab: LabView): CommandResult | null {
  if (args.length === 3 && args[0] === 'pool' && args[1] === 'destroy') return poolDestroy(state, args[2]!, lab);
  if (args.length === 3 && args[0] === 'mon' && args[1] === 'destroy') {
    if (args[2] !== state.name || !state.ceph.mon) return fail(255, `no such monitor id '${args[2]}'\n`);
    delete state.ceph.mon;
    return ok();
  }
  if (args.length === 3 && args[0] === 'mgr' && args[1] === 'destroy') {
    if (args[2] !== state.name || !state.ceph.mgr) return fail(255, `manager '${args[2]}' does not exist\n`);
    delete state.ceph.mgr;
    return ok();
  }
  if (args.length !== 3 || args[0] !== 'osd' || args[1] !== 'destroy') return null;
  const osd = state.ceph.osds.find((o) => String(o.id) === args[2]);
  if (!osd) return fail(255, `OSD osd.${args[2]} does not belong to node ${state.name}!\n`);
  if (osd.in) return fail(255, 'osd is in use (in == 1)\n');
  if (osd.up) return fail(255, 'osd is running (up == 1)\n');
  state.ceph.osds = state.ceph.osds.filter((o) => o !== osd);
  return ok(`destroy OSD osd.${osd.id}\nRemove osd.${osd.id} from the CRUSH map\nRemove the osd.${osd.id} authentication key.\nRemove OSD osd.${osd.id}\n`);
}

export const ceph: Capability<PveNodeState> = {
  name: 'Ceph (pveceph)',
  commands: {
    ceph: (state, args, ctx) => (!has(state) ? null : args[0] === 'osd' ? osdCommand(state, args.slice(1), ctx) : args[0] === 'mon' ? monCommand(state, args.slice(1), ctx)
      : args.join(' ') === 'mgr dump --format json' ? ok(mgrDump(state, ctx.lab)) : null),
    systemctl: (state, args) => (has(state) ? systemctl(state, args) : null),
    pveceph: (state, args, ctx) => (has(state) ? pveceph(state, args, ctx.lab) : null),
  },
  status: (state) => (has(state) ? { ceph: { osds: state.ceph.osds.map((o) => `osd.${o.id}:${o.in ? 'in' : 'out'},${o.up ? 'up' : 'down'}`), pool: state.ceph.pool?.name ?? null } } : {}),
};
