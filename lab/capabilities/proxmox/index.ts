/**
 * The Proxmox capability: pvecm, pvesh (pvesh.ts), pvesm, qm and pct (guests.ts, create.ts) and the free space on
 * /boot, over the node's state and the other nodes of its cluster (ctx.lab). Every Proxmox command here completes synchronously: nothing to settle.
 */
import type { Capability } from '../../core/capability.js';
import { fail, ok, type CommandResult, type ExecContext } from '../../core/types.js';
import { clusterNodes, isosOf, missingIso, quorumOf, type PveNodeState } from './cluster.js';
import { corosync, delnode, expected, qdeviceRemove } from './corosync.js';
import { clustered, PVE_COROSYNC_CONF } from './corosync-state.js';
import { cmdGuest } from './guests.js';
import { cmdPvesh } from './pvesh.js';
import { renderPvecmNodes, renderPvecmStatus, renderPvesmStatus } from './render.js';

export * from './cluster.js';
export { corosync } from './corosync.js';
export { ceph, type CephOsd, type CephState } from './ceph.js';
export { corosyncMember, type CorosyncState } from './corosync-state.js';
export { pveSize } from './render.js';

function cmdPvecm(state: PveNodeState, args: string[], ctx: ExecContext): CommandResult {
  if (args[0] === 'delnode') return delnode(state, args.slice(1), ctx);
  if (args.join(' ') === 'qdevice remove') return qdeviceRemove(state, ctx);
  if (args[0] === 'expected') return expected(state, args.slice(1), ctx);
  const c = state.corosync;
  if (c && (args[0] === 'status' || args[0] === 'nodes')) {
    if (!clustered(c)) return fail(2, `Error: Corosync config '${PVE_COROSYNC_CONF}' does not exist - is this node part of a cluster?\n`);
    if (!c.units.corosync) return fail(2, 'Cannot initialize CMAP service\n');
  }
  const q = quorumOf(state, ctx.lab);
  // Ring id: bumps at every membership change, i.e. whenever a node boots.
  const ring = 25100 + clusterNodes(state, ctx.lab).reduce((s, n) => s + n.bootCount, 0) * 4;
  if (args.length === 1 && args[0] === 'status') {
    // The ResEl page shows `zsh: exit 1` after a quorate `pvecm status`: the exit status says nothing about quorum.
    return fail(1, '', renderPvecmStatus(state, q, ctx.now, ring));
  }
  if (args.length === 1 && args[0] === 'nodes') return ok(renderPvecmNodes(state, q));
  return fail(255, `unknown command 'pvecm ${args.join(' ')}'\n`);
}

function cmdDf(state: PveNodeState, args: string[]): CommandResult {
  if (args.join(' ') !== '-B1 --output=avail /boot') return fail(1, 'runbook-lab: df: the lab simulates only "df -B1 --output=avail /boot"\n');
  const value = String(state.bootFreeBytes);
  const width = Math.max(value.length, 5);
  return ok(`${'Avail'.padStart(width)}\n${value.padStart(width)}\n`);
}

/** `pvesm status`, and `pvesm free VOLID` of an ISO image in `local` (an admin removing an installer). */
function cmdPvesm(state: PveNodeState, args: string[], ctx: ExecContext): CommandResult {
  if (args.length === 1 && args[0] === 'status') return ok(renderPvesmStatus(state, ctx.lab));
  const [sub, volid = ''] = args;
  if (sub === 'free' && args.length === 2 && volid.startsWith('local:iso/')) {
    const missing = missingIso(state, volid);
    if (missing) return fail(255, `${missing}\n`);
    state.isos = isosOf(state).filter((v) => v !== volid);
    return ok('');
  }
  return fail(255, 'runbook-lab: pvesm: the lab simulates only "pvesm status" and "pvesm free local:iso/IMAGE"\n');
}

export const proxmox: Capability<PveNodeState> = {
  name: 'Proxmox VE',
  commands: {
    pvecm: (state, args, ctx) => cmdPvecm(state, args, ctx),
    pvesh: (state, args, ctx) => cmdPvesh(state, args, ctx),
    pvesm: (state, args, ctx) => cmdPvesm(state, args, ctx),
    qm: (state, args, ctx) => cmdGuest(state, 'qemu', args, ctx),
    pct: (state, args, ctx) => cmdGuest(state, 'lxc', args, ctx),
    df: (state, args) => cmdDf(state, args),
  },
  boot(state, now) {
    // The first boot is the lab finding the node running as the preset describes it. Later boots: every
    // guest still here was stopped with the node (pve-guests stops them; a crash kills them), and none
    // starts again by itself: onboot would fail anyway until someone opens the network LUKS volumes.
    if (state.bootCount > 0) {
      for (const g of state.guests) { g.status = 'stopped'; delete g.startedAt; delete g.bootedFrom; }
    } else {
      for (const g of state.guests) if (g.status === 'running') g.startedAt ??= now;
    }
    state.bootedAt = now;
  },
};
