/** qm and pct: guests' config, status, start, shutdown and migration between the nodes of a cluster. */
import { fail, ok, type CommandResult, type ExecContext } from '../../core/types.js';
import { findGuest, isGuest, isResult, NO_QUORUM, parseOptions } from './cli.js';
import { bootDevice, qmCreate, qmSet } from './create.js';
import { qmSnapshots } from './snapshots.js';
import { clusterNodes, GiB, memUsed, online, quorumOf, storageActive, type PveDisk, type PveGuest, type PveNodeState } from './cluster.js';
import { renderConfig, renderPctList, renderQmList, taskTime } from './render.js';

/** Why the guest cannot run on `node` now, or null. */
function cannotRun(node: PveNodeState, g: PveGuest): string | null {
  for (const d of g.disks) {
    const s = node.storages.find((x) => x.name === d.storage);
    if (!s) return `storage '${d.storage}' does not exist\n`;
    if (!storageActive(node, s)) return `can't activate LV '/dev/${s.vg}/${d.volume}':   Volume group "${s.vg}" not found\n`;
  }
  if (memUsed(node) + g.memBytes > node.memBytes) {
    return g.type === 'qemu'
      ? `kvm: cannot set up guest memory 'pc.ram': Cannot allocate memory\nstart failed: QEMU exited with code 1\n`
      : `startup for container '${g.vmid}' failed: cannot allocate memory\n`;
  }
  return null;
}

function start(state: PveNodeState, g: PveGuest, ctx: ExecContext): CommandResult {
  const label = g.type === 'qemu' ? 'VM' : 'CT';
  if (!quorumOf(state, ctx.lab).quorate) return fail(255, NO_QUORUM);
  if (g.status === 'running') return fail(255, `${label} ${g.vmid} already running\n`);
  const why = cannotRun(state, g);
  if (why) return fail(255, why);
  g.status = 'running';
  g.startedAt = ctx.now;
  const from = bootDevice(g);
  if (from) g.bootedFrom = from; else delete g.bootedFrom;
  return ok();
}

function shutdown(g: PveGuest, flags: Map<string, string>): CommandResult {
  const label = g.type === 'qemu' ? 'VM' : 'CT';
  if (g.status !== 'running') return fail(255, `${label} ${g.vmid} not running\n`);
  if (g.hangsOnShutdown && flags.get('forceStop') !== '1') {
    return fail(255, g.type === 'qemu' ? 'VM quit/powerdown failed - got timeout\n' : `container did not stop\n`);
  }
  g.status = 'stopped';
  delete g.startedAt;
  delete g.bootedFrom;
  return ok();
}

interface MigrationTarget { node: PveNodeState }

/** What both qm and pct check before a migration. */
function checkTarget(state: PveNodeState, target: string | undefined, ctx: ExecContext, usage: string): MigrationTarget | CommandResult {
  if (target === undefined) return fail(255, `400 not enough arguments\n${usage}\n`);
  if (target === state.name) return fail(255, 'target is local node.\n');
  const node = clusterNodes(state, ctx.lab).find((n) => n.name === target);
  if (!node) return fail(255, `no such cluster node '${target}'\n`);
  if (!quorumOf(state, ctx.lab).quorate) return fail(255, NO_QUORUM);
  if (!online(node)) return fail(255, `target node '${target}' is not online\n`);
  return { node };
}
const isTarget = (x: MigrationTarget | CommandResult): x is MigrationTarget => 'node' in x;

/** A task log: every line stamped with the time, as PVE prints a migration. */
function taskLog(now: number, lines: string[]): string {
  const stamp = taskTime(now);
  return lines.map((l) => `${stamp} ${l}\n`).join('');
}

function aborted(now: number, lines: string[], reason: string): CommandResult {
  return fail(255, 'migration aborted\n', taskLog(now, [...lines, `ERROR: migration aborted (duration 00:00:00): ${reason}`]));
}

/** The disks that need a copy, and whether the target can hold them. */
function diskPlan(g: PveGuest, from: PveNodeState, to: PveNodeState): { local: PveDisk[]; problem?: string } {
  const local: PveDisk[] = [];
  for (const d of g.disks) {
    const src = from.storages.find((s) => s.name === d.storage);
    const dst = to.storages.find((s) => s.name === d.storage);
    if (!dst) return { local, problem: `storage '${d.storage}' is not available on node '${to.name}'` };
    if (!storageActive(to, dst)) return { local, problem: `storage '${d.storage}' is not available on node '${to.name}'` };
    if (!src?.shared) local.push(d);
  }
  return { local };
}

function qmMigrate(state: PveNodeState, args: string[], ctx: ExecContext): CommandResult {
  const usage = 'qm migrate <vmid> <target> [OPTIONS]';
  const p = parseOptions(args, ['migration_type', 'bwlimit'], ['online', 'force', 'with-local-disks'], usage);
  if (isResult(p)) return p;
  const g = findGuest(state, 'qemu', p.positional[0], usage);
  if (!isGuest(g)) return g;
  const t = checkTarget(state, p.positional[1], ctx, usage);
  if (!isTarget(t)) return t;
  const to = t.node;
  const now = ctx.now;
  const head = `starting migration of VM ${g.vmid} to node '${to.name}' (${to.address})`;
  const plan = diskPlan(g, state, to);
  if (plan.problem) return aborted(now, [head], plan.problem);
  const live = g.status === 'running';
  if (live && p.flags.get('online') !== '1') return fail(255, `can't migrate running VM without --online\n`);
  const lines = [head];
  if (live && plan.local.length) {
    // The page's lvmthin_luks_local: not shared, so no HA and no live migration.
    for (const d of plan.local) lines.push(`found local disk '${d.storage}:${d.volume}' (attached)`);
    for (const d of plan.local) lines.push(`can't migrate local disk '${d.storage}:${d.volume}': can't live migrate attached local disks without with-local-disks option`);
    lines.push('ERROR: Problem found while scanning volumes - can\'t migrate VM - check log');
    lines.push('aborting phase 1 - cleanup resources');
    return aborted(now, lines, 'Problem found while scanning volumes - can\'t migrate VM - check log');
  }
  if (live) {
    const why = cannotRun(to, g);
    if (why) {
      lines.push(`starting VM ${g.vmid} on remote node '${to.name}'`, ...why.trim().split('\n').map((l) => `[${to.name}] ${l}`));
      lines.push('ERROR: online migrate failure - remote command failed with exit code 255', 'aborting phase 2 - cleanup resources', 'migrate_cancel');
      return aborted(now, lines, 'remote command failed with exit code 255');
    }
    const gib = (g.memBytes / GiB).toFixed(1);
    lines.push(
      `starting VM ${g.vmid} on remote node '${to.name}'`,
      'start remote tunnel',
      'ssh tunnel ver 1',
      `starting online/live migration on unix:/run/qemu-server/${g.vmid}.migrate`,
      'set migration capabilities',
      'migration downtime limit: 100 ms',
      'migration cachesize: 256.0 MiB',
      'set migration parameters',
      `start migrate command to unix:/run/qemu-server/${g.vmid}.migrate`,
      `migration active, transferred ${gib} GiB of ${gib} GiB VM-state, 1.1 GiB/s`,
      'average migration speed: 1.1 GiB/s - downtime 42 ms',
      'migration status: completed',
    );
  } else {
    if (p.flags.get('online') === '1') lines.unshift(`VM isn't running. Doing offline migration instead.`);
    for (const d of plan.local) lines.push(`found local disk '${d.storage}:${d.volume}' (in current VM config)`, `copying local disk '${d.storage}:${d.volume}' to node '${to.name}'`);
  }
  state.guests = state.guests.filter((x) => x !== g);
  to.guests.push(g);
  lines.push('migration finished successfully (duration 00:00:08)');
  return ok(taskLog(now, lines));
}

function pctMigrate(state: PveNodeState, args: string[], ctx: ExecContext): CommandResult {
  const usage = 'pct migrate <vmid> <target> [OPTIONS]';
  const p = parseOptions(args, ['timeout', 'bwlimit', 'target-storage'], ['restart', 'online'], usage);
  if (isResult(p)) return p;
  const g = findGuest(state, 'lxc', p.positional[0], usage);
  if (!isGuest(g)) return g;
  const t = checkTarget(state, p.positional[1], ctx, usage);
  if (!isTarget(t)) return t;
  const to = t.node;
  const now = ctx.now;
  const head = `starting migration of CT ${g.vmid} to node '${to.name}' (${to.address})`;
  const running = g.status === 'running';
  if (running && p.flags.get('online') === '1') return aborted(now, [], 'lxc live migration is currently not implemented');
  if (running && p.flags.get('restart') !== '1') return aborted(now, [], 'running container can only be migrated in restart mode');
  const plan = diskPlan(g, state, to);
  if (plan.problem) return aborted(now, [head], plan.problem);
  const lines: string[] = [];
  if (running) {
    lines.push(`shutdown CT ${g.vmid}`);
    if (g.hangsOnShutdown) return aborted(now, lines, `shutdown CT ${g.vmid} failed - container did not stop`);
    g.status = 'stopped';
    delete g.startedAt;
  }
  lines.push(head);
  for (const d of g.disks) {
    const shared = state.storages.find((s) => s.name === d.storage)?.shared;
    lines.push(shared ? `volume '${d.storage}:${d.volume}' is on shared storage '${d.storage}'` : `found local volume '${d.storage}:${d.volume}' (in current VM config)`);
  }
  state.guests = state.guests.filter((x) => x !== g);
  to.guests.push(g);
  lines.push('start final cleanup');
  if (running) {
    lines.push('start container on target node');
    const why = cannotRun(to, g);
    if (why) return fail(255, `${why}migration problems\n`, taskLog(now, [...lines, `ERROR: failed to start container on target node: ${why.trim()}`, 'migration finished with problems (duration 00:00:09)']));
    g.status = 'running';
    g.startedAt = now;
  }
  lines.push('migration finished successfully (duration 00:00:09)');
  return ok(taskLog(now, lines));
}

export function cmdGuest(state: PveNodeState, type: PveGuest['type'], args: string[], ctx: ExecContext): CommandResult {
  const tool = type === 'qemu' ? 'qm' : 'pct';
  const [sub, ...rest] = args;
  const usage = `${tool} ${sub ?? '<command>'} <vmid>`;
  switch (sub) {
    case 'list':
      return ok(type === 'qemu' ? renderQmList(state) : renderPctList(state));
    case 'migrate':
      return type === 'qemu' ? qmMigrate(state, rest, ctx) : pctMigrate(state, rest, ctx);
    case 'create':
      if (type !== 'qemu') break;
      return qmCreate(state, rest, ctx);
    case 'set':
      if (type !== 'qemu') break;
      return qmSet(state, rest, ctx);
    case 'config':
    case 'status':
    case 'start':
    case 'shutdown': {
      const p = parseOptions(rest, ['timeout'], ['forceStop', 'keepActive', 'current', 'verbose'], usage);
      if (isResult(p)) return p;
      const g = findGuest(state, type, p.positional[0], usage);
      if (!isGuest(g)) return g;
      if (sub === 'config') return ok(renderConfig(g));
      if (sub === 'status') return ok(`status: ${g.status}\n`);
      if (sub === 'start') return start(state, g, ctx);
      return shutdown(g, p.flags);
    }
    case 'snapshot':
    case 'rollback':
    case 'delsnapshot':
    case 'listsnapshot': {
      if (type !== 'qemu') break;
      const g = findGuest(state, type, rest[0], usage);
      if (!isGuest(g)) return g;
      return qmSnapshots(state, g, sub, rest.slice(1), ctx.now);
    }
    default:
      break;
  }
  return fail(255, `unknown command '${tool} ${sub ?? ''}'\n`);
}
