/**
 * Corosync and pmxcfs on a Proxmox node, for "Démonter notre cluster Proxmox": `systemctl stop|start|is-active
 * pve-cluster|corosync`, `pmxcfs -l`, `pidof pmxcfs`, `kill PID`, the few file commands the separation uses on
 * /etc/pve/corosync.conf, /etc/corosync, /var/lib/corosync and a backup folder (`ls -A`, `test -e`, `mkdir -p`,
 * `cp -a`, `rm -r`, `cat`), and `pvecm delnode`. A wrong order fails as the real tools do: /etc/pve is empty
 * without a pmxcfs and read-only without local mode, `pmxcfs -l` wants pve-cluster stopped, pve-cluster does not
 * start while a local pmxcfs holds the lock, `pvecm delnode` refuses itself and a cluster without quorum.
 */
import type { Capability } from '../../core/capability.js';
import { fail, ok, type CommandResult, type ExecContext } from '../../core/types.js';
import { clusterNodes, quorumOf, voting, type PveNodeState } from './cluster.js';
import { clustered, PVE_COROSYNC_CONF, renderCorosyncConf, type CorosyncState } from './corosync-state.js';

type Node = PveNodeState & { corosync: CorosyncState };
const has = (s: PveNodeState): s is Node => s.corosync !== undefined;
const UNITS = ['pve-cluster', 'corosync'] as const;
type Unit = (typeof UNITS)[number];
const isUnit = (u: string | undefined): u is Unit => UNITS.includes(u as Unit);

/** /etc/pve is pmxcfs' FUSE mount: there only while pve-cluster's pmxcfs or a local one runs. */
const pmxcfsUp = (c: CorosyncState) => c.unitPid !== undefined || c.localPid !== undefined;
const strip = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p);
const isDir = (c: CorosyncState, p: string) => `${strip(p)}/` in c.files;
const exists = (c: CorosyncState, p: string) => (strip(p) === PVE_COROSYNC_CONF ? pmxcfsUp(c) && c.pveConf !== null : strip(p) in c.files || isDir(c, p));
const children = (c: CorosyncState, dir: string) => Object.keys(c.files).filter((k) => k !== `${dir}/` && k.startsWith(`${dir}/`));
/** The lab's files are only these: others are not the separation's business. */
const OWNED = /^\/(etc\/corosync|var\/lib\/corosync|root|etc\/pve\/corosync\.conf)(\/|$)/;

const unitFailed = (unit: string) => fail(1, `Job for ${unit}.service failed because the control process exited with error code.\nSee "systemctl status ${unit}.service" and "journalctl -xeu ${unit}.service" for details.\n`);

function systemctl(s: Node, args: string[]): CommandResult | null {
  const [verb, unit] = args;
  if (args.length !== 2 || !isUnit(unit)) return null;
  const c = s.corosync;
  if (verb === 'is-active') return c.units[unit] ? ok('active\n') : fail(3, '', 'inactive\n');
  if (verb === 'stop') {
    c.units[unit] = false;
    if (unit === 'pve-cluster') delete c.unitPid;
    return ok();
  }
  if (verb !== 'start') return null;
  if (c.units[unit]) return ok();
  if (unit === 'corosync') {
    if (!('/etc/corosync/corosync.conf' in c.files)) return unitFailed('corosync');
    c.units.corosync = true;
    return ok();
  }
  // A local pmxcfs holds /var/lib/pve-cluster/.pmxcfs.lockfile: the unit's pmxcfs cannot start.
  if (c.localPid !== undefined) return unitFailed('pve-cluster');
  c.units['pve-cluster'] = true;
  c.unitPid = c.nextPid++;
  return ok();
}

function pmxcfs(s: Node, args: string[]): CommandResult | null {
  if (args.join(' ') !== '-l') return null;
  const c = s.corosync;
  if (pmxcfsUp(c)) return fail(255, '[main] crit: unable to acquire pmxcfs lock: Resource temporarily unavailable\n[main] notice: exit proxmox configuration filesystem (-1)\n');
  c.localPid = c.nextPid++;
  return ok('', clustered(c) ? '[main] notice: forcing local mode (although corosync.conf exists)\n' : '');
}

function pidof(s: Node, args: string[]): CommandResult | null {
  if (args.join(' ') !== 'pmxcfs') return null;
  const pids = [s.corosync.unitPid, s.corosync.localPid].filter((p) => p !== undefined);
  return pids.length ? ok(`${pids.join(' ')}\n`) : fail(1, '');
}

function kill(s: Node, args: string[]): CommandResult | null {
  if (args.length !== 1 || !/^\d+$/.test(args[0]!)) return null;
  const pid = Number(args[0]);
  const c = s.corosync;
  if (pid === c.localPid) { delete c.localPid; return ok(); }
  if (pid === c.unitPid) { delete c.unitPid; c.units['pve-cluster'] = false; return ok(); }
  return fail(1, `bash: kill: (${pid}) - No such process\n`);
}

function files(s: Node, cmd: string, args: string[]): CommandResult | null {
  const c = s.corosync;
  const flags = args.filter((a) => a.startsWith('-')).join('');
  const paths = args.filter((a) => !a.startsWith('-')).map(strip);
  if (!paths.length || paths.some((p) => !OWNED.test(p))) return null;
  const [first] = paths as [string];
  switch (cmd) {
    case 'test':
      return flags === '-e' && paths.length === 1 ? (exists(c, first) ? ok() : fail(1, '')) : null;
    case 'ls': {
      if (flags !== '-A' || paths.length !== 1) return null;
      if (!exists(c, first)) return fail(2, `ls: cannot access '${first}': No such file or directory\n`);
      const names = children(c, first).map((k) => k.slice(first.length + 1).split('/')[0]!);
      return ok([...new Set(names)].sort().map((n) => `${n}\n`).join(''));
    }
    case 'cat':
      if (flags || paths.length !== 1) return null;
      if (first === PVE_COROSYNC_CONF) return exists(c, first) ? ok(c.pveConf!) : fail(1, `cat: ${first}: No such file or directory\n`);
      return first in c.files ? ok(c.files[first]) : fail(1, `cat: ${first}: ${isDir(c, first) ? 'Is a directory' : 'No such file or directory'}\n`);
    case 'mkdir':
      if (flags !== '-p') return null;
      for (const p of paths) for (let i = 1; i <= p.split('/').length - 1; i++) c.files[`${p.split('/').slice(0, i + 1).join('/')}/`] = '';
      return ok();
    case 'cp': {
      if (flags !== '-a' || paths.length < 2) return null;
      const dest = paths.pop()!;
      if (!isDir(c, dest)) return fail(1, `cp: target '${dest}': No such file or directory\n`);
      for (const src of paths) {
        const base = src.split('/').pop()!;
        if (!exists(c, src)) return fail(1, `cp: cannot stat '${src}': No such file or directory\n`);
        if (src === PVE_COROSYNC_CONF) { c.files[`${dest}/${base}`] = c.pveConf!; continue; }
        if (!isDir(c, src)) { c.files[`${dest}/${base}`] = c.files[src]!; continue; }
        c.files[`${dest}/${base}/`] = '';
        for (const k of children(c, src)) c.files[`${dest}/${base}${k.slice(src.length)}`] = c.files[k]!;
      }
      return ok();
    }
    case 'rm':
      if (!/^-r?f?$|^-fr$/.test(flags || '-')) return null;
      for (const p of paths) {
        if (p === PVE_COROSYNC_CONF) {
          if (!pmxcfsUp(c) || c.pveConf === null) return fail(1, `rm: cannot remove '${p}': No such file or directory\n`);
          // Without local mode the cluster's filesystem is read-only here (no quorum) or shared with the others.
          if (c.localPid === undefined) return fail(1, `rm: cannot remove '${p}': Permission denied\n`);
          c.pveConf = null;
          continue;
        }
        if (!exists(c, p)) { if (flags.includes('f')) continue; return fail(1, `rm: cannot remove '${p}': No such file or directory\n`); }
        if (isDir(c, p) && !flags.includes('r')) return fail(1, `rm: cannot remove '${p}': Is a directory\n`);
        for (const k of [p, `${p}/`, ...children(c, p)]) delete c.files[k];
      }
      return ok();
    default:
      return null;
  }
}

/** `pvecm delnode NODE` on a member: every member's nodelist loses the node. */
export function delnode(state: PveNodeState, args: string[], ctx: ExecContext): CommandResult {
  const name = args[0];
  if (args.length !== 1 || !name) return fail(255, '400 not enough arguments\npvecm delnode <node>\n');
  if (!has(state) || !clustered(state.corosync)) return notInCluster();
  if (!state.corosync.units.corosync) return fail(255, 'Cannot initialize CMAP service\n');
  if (name === state.name) return fail(255, 'Cannot delete myself from cluster!\n');
  const entry = state.corosync.nodelist.find((n) => n.name === name);
  if (!entry) return fail(255, `Node/IP: ${name} is not a known host of the cluster.\n`);
  if (!quorumOf(state, ctx.lab).quorate) return fail(255, 'cluster not ready - no quorum?\n');
  const target = clusterNodes(state, ctx.lab).find((n) => n.name === name);
  // The lab's guard (the real tool only warns): a node still voting would come back with the old nodelist.
  if (target && voting(target)) return fail(255, `node '${name}' is still an online member of the cluster: separate it first (stop corosync on it)\n`);
  for (const n of clusterNodes(state, ctx.lab).filter((x) => x.name !== name && has(x) && clustered(x.corosync))) {
    const c = n.corosync!;
    c.nodelist = c.nodelist.filter((x) => x.name !== name);
    rewrite(c);
  }
  return ok(`Killing node ${entry.nodeId}\n`);
}

/** A new corosync.conf on a member: votequorum recounts the expected votes from it (a `pvecm expected` is gone). */
function rewrite(c: CorosyncState): void {
  c.configVersion += 1;
  delete c.expectedVotes;
  const conf = renderCorosyncConf(c);
  if (c.pveConf !== null) c.pveConf = conf;
  if ('/etc/corosync/corosync.conf' in c.files) c.files['/etc/corosync/corosync.conf'] = conf;
}

const notInCluster = () => fail(255, `Error: Corosync config '${PVE_COROSYNC_CONF}' does not exist - is this node part of a cluster?\n`);

/** `pvecm qdevice remove`: every member's corosync.conf loses the device, its certificates go; refused as the real tool does. */
export function qdeviceRemove(state: PveNodeState, ctx: ExecContext): CommandResult {
  if (!has(state) || !clustered(state.corosync)) return notInCluster();
  if (!state.corosync.units.corosync) return fail(255, 'Cannot initialize CMAP service\n');
  if (!state.corosync.qdevice) return fail(255, 'No QDevice configured!\n');
  if (!quorumOf(state, ctx.lab).quorate) return fail(255, 'cluster not ready - no quorum?\n');
  for (const n of clusterNodes(state, ctx.lab).filter((x) => has(x) && clustered(x.corosync))) {
    const c = n.corosync!;
    delete c.qdevice;
    for (const f of Object.keys(c.files).filter((k) => k.startsWith('/etc/corosync/qdevice/'))) delete c.files[f];
    rewrite(c);
  }
  return ok('', 'Removed QDevice.\n');
}

/**
 * `pvecm expected N` (corosync-quorumtool -e): this partition's expected votes, so that a member left alone regains
 * quorum. votequorum refuses a value below the votes present or that would make a quorum of less than half of them.
 */
export function expected(state: PveNodeState, args: string[], ctx: ExecContext): CommandResult {
  const n = Number(args[0]);
  if (args.length !== 1 || !Number.isInteger(n) || n < 1) return fail(255, '400 Parameter verification failed.\nexpected: invalid integer value\npvecm expected <expected>\n');
  if (!has(state) || !clustered(state.corosync)) return notInCluster();
  if (!state.corosync.units.corosync) return fail(255, 'Cannot initialize CMAP service\n');
  const { total } = quorumOf(state, ctx.lab);
  if (n < total) return fail(1, 'Unable to set expected votes: CS_ERR_INVALID_PARAM\n');
  state.corosync.expectedVotes = n;
  return ok();
}

const withCorosync = (handler: (s: Node, args: string[]) => CommandResult | null) =>
  (state: PveNodeState, args: string[]) => (has(state) ? handler(state, args) : null);

export const corosync: Capability<PveNodeState> = {
  name: 'corosync and pmxcfs',
  commands: {
    systemctl: withCorosync(systemctl),
    pmxcfs: withCorosync(pmxcfs),
    pidof: withCorosync(pidof),
    kill: withCorosync(kill),
    ...Object.fromEntries(['test', 'ls', 'cat', 'mkdir', 'cp', 'rm'].map((cmd) => [cmd, withCorosync((s, args) => files(s, cmd, args))])),
  },
  boot(state) {
    // A boot starts the units again; a `pmxcfs -l` started by hand is gone.
    const c = state.corosync;
    if (!c || state.bootCount === 0) return;
    delete c.localPid;
    c.units['pve-cluster'] = true;
    c.unitPid = c.nextPid++;
    c.units.corosync = '/etc/corosync/corosync.conf' in c.files;
  },
  status: (state) => (state.corosync ? {
    corosync: {
      units: state.corosync.units, localPmxcfs: state.corosync.localPid ?? null, clustered: clustered(state.corosync),
      nodelist: state.corosync.nodelist.map((n) => n.name), qdevice: state.corosync.qdevice ?? null,
    },
  } : {}),
};
