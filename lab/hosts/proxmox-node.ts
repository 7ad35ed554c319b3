/**
 * A simulated Proxmox VE node of a cluster, as on the wiki pages "Virtualisation avec Proxmox" (FAImaison:
 * three HPe DL360G7, a shared IBM LUN in two LUKS / non-LUKS VGs, one local LUKS LUN each) and the ResEl
 * cluster page (`pvecm status` / `pvecm nodes` outputs).
 *
 * The cluster is not a separate object: each node's state holds the guests that live on it, and the nodes
 * see each other through ctx.lab. A migration moves the guest object from one node's state to the other's.
 * Quorum counts the cluster's nodes that run their system (power 'openssh'): a node in its initramfs is not
 * in corosync yet.
 */
import { createHash } from 'node:crypto';
import { kernelBootId, luksBoot, luksExec, luksState, luksVolume, type WithLuks } from './luks.js';
import { ok, fail, type BaseHostState, type CommandResult, type ExecContext, type HostSimulator, type LabClusterSpec, type LabHostSpec, type LabView } from './types.js';

export const GiB = 2 ** 30;
export const MiB = 2 ** 20;

export interface PveStorage {
  name: string;
  type: 'lvm' | 'lvmthin';
  /** Shared: the same LUN seen by every node (live migration needs no copy). */
  shared: boolean;
  vg: string;
  thinpool?: string;
  content: string;
  totalBytes: number;
}

export interface PveDisk {
  /** The config key: scsi0, virtio0, rootfs, mp0... */
  key: string;
  storage: string;
  /** vm-2001-disk-0 */
  volume: string;
  sizeBytes: number;
}

export interface PveGuest {
  vmid: number;
  name: string;
  type: 'qemu' | 'lxc';
  status: 'running' | 'stopped';
  memBytes: number;
  cores: number;
  disks: PveDisk[];
  /** vmbr2 for the association's guests, vmbr3 for the members' (page, "Adressage"). */
  bridge: string;
  onboot: boolean;
  /** A guest that ignores the ACPI shutdown: `qm shutdown --timeout` gives up. */
  hangsOnShutdown?: boolean;
  startedAt?: number;
}

export interface ProxmoxNodeState extends WithLuks {
  kind: 'proxmox-node';
  cluster: string;
  /** corosync node id (1-based). */
  nodeId: number;
  /** The corosync ring address, as `pvecm status` lists members. */
  address: string;
  /** Physical cores (2 × E5645, 6 cores each = 12) and threads (24, what Proxmox counts as maxcpu). */
  cores: number;
  threads: number;
  memBytes: number;
  /** Free bytes on /boot: the page asks for about 70 MB before an upgrade. */
  bootFreeBytes: number;
  /** This node's view of /etc/pve/storage.cfg; the shared entries are the same on every node. */
  storages: PveStorage[];
  guests: PveGuest[];
  bootedAt: number;
}

// ---------------------------------------------------------------- cluster view

function isNode(h: BaseHostState | undefined): h is ProxmoxNodeState {
  return h?.kind === 'proxmox-node';
}

/** The nodes of this node's cluster, ordered by node id; always includes `state` itself. */
function clusterNodes(state: ProxmoxNodeState, lab: LabView): ProxmoxNodeState[] {
  const others = lab.hosts().filter(isNode).filter((n) => n.cluster === state.cluster && n.name !== state.name);
  return [state, ...others].sort((a, b) => a.nodeId - b.nodeId);
}

const online = (n: ProxmoxNodeState) => n.power === 'openssh';

export interface QuorumView {
  expected: number;
  total: number;
  quorum: number;
  quorate: boolean;
  members: ProxmoxNodeState[];
}

export function quorumOf(state: ProxmoxNodeState, lab: LabView): QuorumView {
  const nodes = clusterNodes(state, lab);
  const members = nodes.filter(online);
  const quorum = Math.floor(nodes.length / 2) + 1;
  return { expected: nodes.length, total: members.length, quorum, quorate: members.length >= quorum, members };
}

/** A LUKS-backed VG is there only once its volume is open and the VG activated; the others always are. */
export function storageActive(node: ProxmoxNodeState, storage: PveStorage): boolean {
  if (!online(node)) return false;
  const volume = node.luks?.volumes.find((v) => v.vg === storage.vg);
  return volume ? volume.open && volume.vgActive : true;
}

function storageUsed(state: ProxmoxNodeState, storage: PveStorage, lab: LabView): number {
  const owners = storage.shared ? clusterNodes(state, lab) : [state];
  return owners.flatMap((n) => n.guests).flatMap((g) => g.disks).filter((d) => d.storage === storage.name).reduce((s, d) => s + d.sizeBytes, 0);
}

function memUsed(node: ProxmoxNodeState): number {
  return node.guests.filter((g) => g.status === 'running').reduce((s, g) => s + g.memBytes, 0);
}

// ---------------------------------------------------------------- formatting

const p2 = (n: number) => String(n).padStart(2, '0');
function taskTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}
function ctime(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  return `${days[d.getDay()]} ${months[d.getMonth()]} ${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}
const hex8 = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** Config sizes as PVE writes them: 20G, 512M. */
export function pveSize(bytes: number): string {
  return bytes % GiB === 0 ? `${bytes / GiB}G` : `${Math.round(bytes / MiB)}M`;
}

function macOf(vmid: number): string {
  const h = createHash('sha256').update(String(vmid)).digest('hex').toUpperCase();
  return `BC:24:11:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`;
}

function confPath(state: ProxmoxNodeState, type: PveGuest['type'], vmid: string): string {
  return `nodes/${state.name}/${type === 'qemu' ? 'qemu-server' : 'lxc'}/${vmid}.conf`;
}

// ---------------------------------------------------------------- renderers

function renderPvecmStatus(state: ProxmoxNodeState, q: QuorumView, now: number, ring: number): string {
  const firstId = q.members[0]?.nodeId ?? state.nodeId;
  let out = 'Quorum information\n------------------\n';
  out += `Date:             ${ctime(now)}\n`;
  out += 'Quorum provider:  corosync_votequorum\n';
  out += `Nodes:            ${q.total}\n`;
  out += `Node ID:          ${hex8(state.nodeId)}\n`;
  out += `Ring ID:          ${firstId}/${ring}\n`;
  out += `Quorate:          ${q.quorate ? 'Yes' : 'No'}\n\n`;
  out += 'Votequorum information\n----------------------\n';
  out += `Expected votes:   ${q.expected}\n`;
  out += `Highest expected: ${q.expected}\n`;
  out += `Total votes:      ${q.total}\n`;
  // corosync-quorumtool's own wording: two spaces when quorate, "Activity blocked" otherwise.
  out += `Quorum:           ${q.quorum} ${q.quorate ? ' ' : 'Activity blocked'}\n`;
  out += `Flags:            ${q.quorate ? 'Quorate ' : ''}\n\n`;
  out += 'Membership information\n----------------------\n';
  out += '    Nodeid      Votes Name\n';
  for (const n of q.members) out += `${hex8(n.nodeId)}          1 ${n.address}${n === state ? ' (local)' : ''}\n`;
  return out;
}

function renderPvecmNodes(state: ProxmoxNodeState, q: QuorumView): string {
  let out = '\nMembership information\n----------------------\n    Nodeid      Votes Name\n';
  for (const n of q.members) out += `${String(n.nodeId).padStart(10)} ${'1'.padStart(10)} ${n.name}${n === state ? ' (local)' : ''}\n`;
  return out;
}

function guestResource(node: ProxmoxNodeState, g: PveGuest, now: number): Record<string, unknown> {
  const up = online(node);
  const running = up && g.status === 'running';
  return {
    id: `${g.type}/${g.vmid}`, type: g.type, vmid: g.vmid, name: g.name, node: node.name,
    // pmxcfs still lists the guests of a node that is gone, but nobody reports their state.
    status: up ? g.status : 'unknown',
    maxmem: g.memBytes, mem: running ? Math.round(g.memBytes * 0.6) : 0,
    maxcpu: g.cores, cpu: running ? 0.02 : 0,
    maxdisk: g.disks[0]?.sizeBytes ?? 0, disk: 0,
    uptime: running && g.startedAt !== undefined ? Math.floor((now - g.startedAt) / 1000) : 0,
    template: 0,
  };
}

function renderResources(state: ProxmoxNodeState, lab: LabView, now: number): string {
  const nodes = clusterNodes(state, lab);
  const out: Record<string, unknown>[] = [];
  for (const n of nodes) for (const g of [...n.guests].sort((a, b) => a.vmid - b.vmid)) out.push(guestResource(n, g, now));
  for (const n of nodes) {
    // An offline node has no fresh status: PVE leaves its load fields out.
    out.push(online(n)
      ? { id: `node/${n.name}`, type: 'node', node: n.name, status: 'online', level: '', maxmem: n.memBytes, mem: 2 * GiB + Math.round(memUsed(n) * 0.6), maxcpu: n.threads, cpu: 0.03, uptime: Math.floor((now - n.bootedAt) / 1000), maxdisk: 0, disk: 0 }
      : { id: `node/${n.name}`, type: 'node', node: n.name, status: 'offline', level: '', maxmem: n.memBytes, maxcpu: n.threads });
  }
  for (const n of nodes) {
    for (const s of n.storages) {
      const active = storageActive(n, s);
      out.push({
        id: `storage/${n.name}/${s.name}`, type: 'storage', storage: s.name, node: n.name,
        status: active ? 'available' : 'unknown', shared: s.shared ? 1 : 0, plugintype: s.type, content: s.content,
        ...(active ? { maxdisk: s.totalBytes, disk: storageUsed(n, s, lab) } : {}),
      });
    }
  }
  return `${JSON.stringify(out)}\n`;
}

function renderStorageCfg(state: ProxmoxNodeState): string {
  return `${JSON.stringify(state.storages.map((s) => ({
    storage: s.name, type: s.type, shared: s.shared ? 1 : 0, vgname: s.vg, content: s.content, ...(s.thinpool ? { thinpool: s.thinpool } : {}),
  })))}\n`;
}

/** PVE/CLI/pvesm.pm: sizes in KiB, name column as wide as the longest storage id. */
function renderPvesmStatus(state: ProxmoxNodeState, lab: LabView): string {
  const width = Math.max(...state.storages.map((s) => s.name.length), 4) + 1;
  let out = `${'Name'.padEnd(width)} ${'Type'.padStart(10)} ${'Status'.padStart(10)} ${'Total'.padStart(15)} ${'Used'.padStart(15)} ${'Available'.padStart(15)} ${'%'.padStart(8)}\n`;
  for (const s of [...state.storages].sort((a, b) => a.name.localeCompare(b.name))) {
    const active = storageActive(state, s);
    const total = active ? s.totalBytes : 0;
    const used = active ? storageUsed(state, s, lab) : 0;
    const pct = total > 0 ? (used * 100) / total : 0;
    out += `${s.name.padEnd(width)} ${s.type.padStart(10)} ${(active ? 'active' : 'inactive').padStart(10)} ${String(Math.floor(total / 1024)).padStart(15)} ${String(Math.floor(used / 1024)).padStart(15)} ${String(Math.floor((total - used) / 1024)).padStart(15)} ${pct.toFixed(2).padStart(7)}%\n`;
  }
  return out;
}

function renderQmList(state: ProxmoxNodeState): string {
  let out = `${'VMID'.padStart(10)} ${'NAME'.padEnd(20)} ${'STATUS'.padEnd(10)} ${'MEM(MB)'.padEnd(10)} ${'BOOTDISK(GB)'.padStart(12)} ${'PID'.padEnd(10)}\n`;
  for (const g of state.guests.filter((x) => x.type === 'qemu').sort((a, b) => a.vmid - b.vmid)) {
    const pid = g.status === 'running' ? 10000 + (g.vmid % 9000) : 0;
    out += `${String(g.vmid).padStart(10)} ${g.name.padEnd(20)} ${g.status.padEnd(10)} ${String(g.memBytes / MiB).padEnd(10)} ${((g.disks[0]?.sizeBytes ?? 0) / GiB).toFixed(2).padStart(12)} ${String(pid).padEnd(10)}\n`;
  }
  return out;
}

function renderPctList(state: ProxmoxNodeState): string {
  let out = `${'VMID'.padEnd(10)} ${'Status'.padEnd(10)} ${'Lock'.padEnd(12)} ${'Name'.padEnd(20)}\n`;
  for (const g of state.guests.filter((x) => x.type === 'lxc').sort((a, b) => a.vmid - b.vmid)) {
    out += `${String(g.vmid).padEnd(10)} ${g.status.padEnd(10)} ${''.padEnd(12)} ${g.name.padEnd(20)}\n`;
  }
  return out;
}

/** `qm config` / `pct config`: keys sorted, as PVE prints them. */
function renderConfig(g: PveGuest): string {
  const disk = (d: PveDisk) => `${d.storage}:${d.volume},size=${pveSize(d.sizeBytes)}`;
  const keys: Record<string, string> = g.type === 'qemu'
    ? {
        boot: `order=${g.disks[0]?.key ?? 'scsi0'};net0`, cores: String(g.cores), ide2: 'none,media=cdrom', memory: String(g.memBytes / MiB),
        name: g.name, net0: `virtio=${macOf(g.vmid)},bridge=${g.bridge},firewall=1`, numa: '0', onboot: g.onboot ? '1' : '0',
        ostype: 'l26', scsihw: 'virtio-scsi-pci', sockets: '1',
      }
    : {
        arch: 'amd64', cores: String(g.cores), hostname: g.name, memory: String(g.memBytes / MiB),
        net0: `name=eth0,bridge=${g.bridge},firewall=1,hwaddr=${macOf(g.vmid)},type=veth`, onboot: g.onboot ? '1' : '0',
        ostype: 'debian', swap: '512', unprivileged: '1',
      };
  for (const d of g.disks) keys[d.key] = disk(d);
  return Object.keys(keys).sort().map((k) => `${k}: ${keys[k]}\n`).join('');
}

// ---------------------------------------------------------------- commands

interface Parsed { positional: string[]; flags: Map<string, string> }

/** PVE's CLI options: `--name value`, booleans as `--online` or `--online 1`. */
function parseOptions(args: string[], valued: string[], booleans: string[], usage: string): Parsed | CommandResult {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const name = a.slice(2);
    if (valued.includes(name)) {
      const v = args[++i];
      if (v === undefined) return fail(255, `400 not enough arguments\n${usage}\n`);
      flags.set(name, v);
    } else if (booleans.includes(name)) {
      const v = args[i + 1];
      if (v === '0' || v === '1') { flags.set(name, v); i++; } else flags.set(name, '1');
    } else return fail(255, `Unknown option: ${name}\n400 unable to parse option\n${usage}\n`);
  }
  return { positional, flags };
}
const isResult = (x: Parsed | CommandResult): x is CommandResult => 'exitCode' in x;

function findGuest(state: ProxmoxNodeState, type: PveGuest['type'], id: string | undefined, usage: string): PveGuest | CommandResult {
  if (id === undefined) return fail(255, `400 not enough arguments\n${usage}\n`);
  if (!/^\d+$/.test(id)) return fail(255, `400 Parameter verification failed.\nvmid: type check ('integer') failed - got '${id}'\n${usage}\n`);
  const g = state.guests.find((x) => x.vmid === Number(id) && x.type === type);
  return g ?? fail(255, `Configuration file '${confPath(state, type, id)}' does not exist\n`);
}
const isGuest = (x: PveGuest | CommandResult): x is PveGuest => 'vmid' in x;

const NO_QUORUM = 'cluster not ready - no quorum?\n';

/** Why the guest cannot run on `node` now, or null. */
function cannotRun(node: ProxmoxNodeState, g: PveGuest): string | null {
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

function start(state: ProxmoxNodeState, g: PveGuest, ctx: ExecContext): CommandResult {
  const label = g.type === 'qemu' ? 'VM' : 'CT';
  if (!quorumOf(state, ctx.lab).quorate) return fail(255, NO_QUORUM);
  if (g.status === 'running') return fail(255, `${label} ${g.vmid} already running\n`);
  const why = cannotRun(state, g);
  if (why) return fail(255, why);
  g.status = 'running';
  g.startedAt = ctx.now;
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
  return ok();
}

interface MigrationTarget { node: ProxmoxNodeState }

/** What both qm and pct check before a migration. */
function checkTarget(state: ProxmoxNodeState, target: string | undefined, ctx: ExecContext, usage: string): MigrationTarget | CommandResult {
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
function diskPlan(g: PveGuest, from: ProxmoxNodeState, to: ProxmoxNodeState): { local: PveDisk[]; problem?: string } {
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

function qmMigrate(state: ProxmoxNodeState, args: string[], ctx: ExecContext): CommandResult {
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

function pctMigrate(state: ProxmoxNodeState, args: string[], ctx: ExecContext): CommandResult {
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

function cmdGuest(state: ProxmoxNodeState, type: PveGuest['type'], args: string[], ctx: ExecContext): CommandResult {
  const tool = type === 'qemu' ? 'qm' : 'pct';
  const [sub, ...rest] = args;
  const usage = `${tool} ${sub ?? '<command>'} <vmid>`;
  switch (sub) {
    case 'list':
      return ok(type === 'qemu' ? renderQmList(state) : renderPctList(state));
    case 'migrate':
      return type === 'qemu' ? qmMigrate(state, rest, ctx) : pctMigrate(state, rest, ctx);
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
    default:
      return fail(255, `unknown command '${tool} ${sub ?? ''}'\n`);
  }
}

function cmdPvecm(state: ProxmoxNodeState, args: string[], ctx: ExecContext): CommandResult {
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

function cmdPvesh(state: ProxmoxNodeState, args: string[], ctx: ExecContext): CommandResult {
  const [verb, path, ...rest] = args;
  if (verb !== 'get' || rest.join(' ') !== '--output-format json') {
    return fail(255, 'runbook-lab: pvesh: the lab simulates only "pvesh get PATH --output-format json"\n');
  }
  if (path === '/cluster/resources') return ok(renderResources(state, ctx.lab, ctx.now));
  if (path === '/storage') return ok(renderStorageCfg(state));
  return fail(255, `No '${verb}' handler defined for '${path}'\n`);
}

function cmdDf(state: ProxmoxNodeState, args: string[]): CommandResult {
  if (args.join(' ') !== '-B1 --output=avail /boot') return fail(1, 'runbook-lab: df: the lab simulates only "df -B1 --output=avail /boot"\n');
  const value = String(state.bootFreeBytes);
  const width = Math.max(value.length, 5);
  return ok(`${'Avail'.padStart(width)}\n${value.padStart(width)}\n`);
}

export const proxmoxNode: HostSimulator<ProxmoxNodeState> = {
  kind: 'proxmox-node',
  settle() {
    // Every Proxmox command here completes synchronously: nothing happens between commands.
  },
  boot(state, now) {
    // The first boot is the lab finding the node running as the preset describes it. Later boots: every
    // guest still here was stopped with the node (pve-guests stops them; a crash kills them), and none
    // starts again by itself: onboot would fail anyway until someone opens the network LUKS volumes.
    if (state.bootCount > 0) {
      for (const g of state.guests) { g.status = 'stopped'; delete g.startedAt; }
      luksBoot(state);
    } else {
      for (const g of state.guests) if (g.status === 'running') g.startedAt ??= now;
    }
    state.bootedAt = now;
    state.bootCount += 1;
  },
  exec(state, argv, ctx) {
    const luks = luksExec(state, argv, ctx);
    if (luks) return luks;
    const [cmd0, ...args] = argv;
    const cmd = cmd0!.replace(/^\/(usr\/)?s?bin\//, '');
    switch (cmd) {
      case 'pvecm':
        return cmdPvecm(state, args, ctx);
      case 'pvesh':
        return cmdPvesh(state, args, ctx);
      case 'pvesm':
        if (args.length === 1 && args[0] === 'status') return ok(renderPvesmStatus(state, ctx.lab));
        return fail(255, 'runbook-lab: pvesm: the lab simulates only "pvesm status"\n');
      case 'qm':
        return cmdGuest(state, 'qemu', args, ctx);
      case 'pct':
        return cmdGuest(state, 'lxc', args, ctx);
      case 'df':
        return cmdDf(state, args);
      case 'cat':
        if (args.length === 1 && args[0] === '/proc/sys/kernel/random/boot_id') return ok(`${kernelBootId(state)}\n`);
        return fail(1, `cat: ${args.join(' ')}: the lab only simulates /proc/sys/kernel/random/boot_id here\n`);
      case 'hostname':
        return ok(`${state.name}\n`);
      case 'reboot':
        return { ...ok(), after: 'reboot' };
      case 'poweroff':
        return { ...ok(), after: 'poweroff' };
      default:
        return fail(127, `bash: ${cmd0}: command not found\n`);
    }
  },
};

// ---------------------------------------------------------------- preset

/** Per-node hardware; defaults are the page's DL360G7: 2 × E5645 (12 cores, 24 threads), 64 GiB. */
export interface ProxmoxNodeCapacity {
  cores?: number;
  threads?: number;
  memBytes?: number;
  bootFreeBytes?: number;
}

export interface ProxmoxClusterOptions {
  /** Cluster name (pvecm). Default 'fma'. */
  cluster?: string;
  /** Node names in node-id order. Default the page's skumenn, gueuza, kurun. */
  names?: string[];
  /** LUKS passphrases; defaults from proxmoxPassphrase(). */
  passphrases?: { root?: Record<string, string>; shared?: string; local?: Record<string, string> };
  /** Hardware of every node, then per node (by name): e.g. make the other nodes too small to take a drain. */
  capacity?: ProxmoxNodeCapacity;
  nodeCapacity?: Record<string, ProxmoxNodeCapacity>;
  /** Guests per node name, replacing the default mix (proxmoxDefaultGuests). */
  guests?: Record<string, PveGuest[]>;
  bootDelayMs?: number;
  maxUnlockTries?: number;
  unlockBootDelayMs?: number;
}

export const STORAGE_LUKS_SHARED = 'lvm_luks_shared';
export const STORAGE_NOLUKS_SHARED = 'lvm_noluks_shared';
export const STORAGE_LUKS_LOCAL = 'lvmthin_luks_local';

/** The page's LUNs: 2 To shared and encrypted, 10 To shared in clear, 300 Go local and encrypted (thin). */
export function proxmoxStorages(): PveStorage[] {
  return [
    { name: STORAGE_LUKS_SHARED, type: 'lvm', shared: true, vg: 'vg_fma_luks', content: 'images,rootdir', totalBytes: 2 * 2 ** 40 },
    { name: STORAGE_NOLUKS_SHARED, type: 'lvm', shared: true, vg: 'vg_fma_noluks', content: 'images,rootdir', totalBytes: 10 * 2 ** 40 },
    { name: STORAGE_LUKS_LOCAL, type: 'lvmthin', shared: false, vg: 'vg_local_luks', thinpool: 'data', content: 'images,rootdir', totalBytes: 300 * GiB },
  ];
}

/** The lab's default passphrase for a node's root, the shared LUN, or a node's local LUN. */
export function proxmoxPassphrase(opts: ProxmoxClusterOptions, volume: 'root' | 'shared' | 'local', node: string): string {
  if (volume === 'shared') return opts.passphrases?.shared ?? 'lab fma shared LUN passphrase';
  return opts.passphrases?.[volume]?.[node] ?? `lab ${node} ${volume} passphrase`;
}

function guest(vmid: number, name: string, type: PveGuest['type'], storage: string, diskGiB: number, memMiB: number, cores: number, status: PveGuest['status'] = 'running'): PveGuest {
  const key = type === 'lxc' ? 'rootfs' : vmid >= 2000 ? 'virtio0' : 'scsi0';
  return {
    vmid, name, type, status, memBytes: memMiB * MiB, cores,
    disks: [{ key, storage, volume: `vm-${vmid}-disk-0`, sizeBytes: diskGiB * GiB }],
    // Association guests on vmbr2, members' VMs on vmbr3 (page, "Adressage").
    bridge: vmid >= 2000 ? 'vmbr3' : 'vmbr2',
    onboot: true,
  };
}

/**
 * The default mix, per node (the page's ids: 1000-1999 association, 2000-2999 members). On each node: association
 * VMs and a container on lvm_luks_shared, members' VMs on lvm_noluks_shared, and on the first two nodes a member
 * VM on lvmthin_luks_local that cannot migrate live; the third has a container on its local LUN.
 */
export function proxmoxDefaultGuests(names: string[]): Record<string, PveGuest[]> {
  const [a = 'pve1', b = 'pve2', c = 'pve3'] = names;
  return {
    [a]: [
      guest(1001, 'web', 'qemu', STORAGE_LUKS_SHARED, 20, 2048, 2),
      guest(1002, 'mail', 'qemu', STORAGE_LUKS_SHARED, 40, 4096, 2),
      guest(1101, 'dns1', 'lxc', STORAGE_LUKS_SHARED, 8, 512, 1),
      guest(2001, 'REF-VM-01', 'qemu', STORAGE_NOLUKS_SHARED, 20, 1024, 1),
      guest(2002, 'REF-VM-02', 'qemu', STORAGE_NOLUKS_SHARED, 50, 2048, 2),
      guest(2003, 'REF-VM-03', 'qemu', STORAGE_NOLUKS_SHARED, 20, 1024, 1, 'stopped'),
      guest(2010, 'REF-VM-10', 'qemu', STORAGE_LUKS_LOCAL, 30, 2048, 2),
    ],
    [b]: [
      guest(1003, 'cloud', 'qemu', STORAGE_LUKS_SHARED, 100, 4096, 2),
      guest(1102, 'dns2', 'lxc', STORAGE_LUKS_SHARED, 8, 512, 1),
      guest(2004, 'REF-VM-04', 'qemu', STORAGE_NOLUKS_SHARED, 20, 1024, 1),
      guest(2005, 'REF-VM-05', 'qemu', STORAGE_NOLUKS_SHARED, 20, 2048, 1),
      guest(2011, 'REF-VM-11', 'qemu', STORAGE_LUKS_LOCAL, 20, 1024, 1),
    ],
    [c]: [
      guest(1004, 'monitoring', 'qemu', STORAGE_LUKS_SHARED, 20, 2048, 2),
      guest(1103, 'ansible', 'lxc', STORAGE_LUKS_SHARED, 8, 1024, 1),
      guest(1104, 'backup', 'lxc', STORAGE_LUKS_LOCAL, 100, 1024, 1),
      guest(2006, 'REF-VM-06', 'qemu', STORAGE_NOLUKS_SHARED, 20, 1024, 1),
      guest(2007, 'REF-VM-07', 'qemu', STORAGE_NOLUKS_SHARED, 20, 4096, 2),
    ],
  };
}

/** A stable UUID for a LUN of the lab that the page does not show. */
function labUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The shared LUN's multipath WWID is the page's; each node's own LUN follows it (…2e, …2f, …30). */
const WWID_PREFIX = '36005076802810cce88000000000000';
export const SHARED_LUN_WWID = `${WWID_PREFIX}2d`;
export function localLunWwid(index: number): string {
  return `${WWID_PREFIX}${(0x2e + index).toString(16).padStart(2, '0')}`;
}

/**
 * A Proxmox cluster as on the page: three nodes, one shared LUN (two VGs: vg_fma_luks encrypted, vg_fma_noluks
 * in clear), one local encrypted LUN per node, an encrypted root unlocked in the initramfs. The first node
 * gets the page's own UUIDs (blkid output). Nodes are "found running": LUKS volumes open, VGs active.
 */
export function proxmoxCluster(opts: ProxmoxClusterOptions = {}): { hosts: LabHostSpec<ProxmoxNodeState>[]; clusters: LabClusterSpec[] } {
  const names = opts.names ?? ['skumenn', 'gueuza', 'kurun'];
  const cluster = opts.cluster ?? 'fma';
  const guests = opts.guests ?? proxmoxDefaultGuests(names);
  const allGuests = Object.values(guests).flat();
  const lvsOn = (storage: string, list: PveGuest[]) => list.flatMap((g) => g.disks).filter((d) => d.storage === storage).length;
  const hosts = names.map((name, i): LabHostSpec<ProxmoxNodeState> => {
    const own = guests[name] ?? [];
    const cap = { ...opts.capacity, ...opts.nodeCapacity?.[name] };
    const volumes = [
      luksVolume({
        uuid: i === 0 ? '43b0c19b-977b-4fc7-838a-c38494a7681c' : labUuid(`${name}/root`),
        paths: ['/dev/sda5'], name: 'sda5_crypt', root: true, vg: 'pve', lvCount: 3,
        ...(i === 0 ? { partuuid: '46a561e0-05' } : {}),
        passphrases: [proxmoxPassphrase(opts, 'root', name)],
      }),
      luksVolume({
        uuid: '0c5a3449-73bd-4e2b-a00f-d807b1bb74ad',
        paths: ['/dev/sdd', '/dev/sdg', `/dev/mapper/${SHARED_LUN_WWID}`], name: 'vg_fma_luks', vg: 'vg_fma_luks',
        lvCount: Math.max(1, lvsOn(STORAGE_LUKS_SHARED, allGuests)),
        passphrases: [proxmoxPassphrase(opts, 'shared', name)],
      }),
      luksVolume({
        uuid: i === 0 ? 'b93272fd-e26f-407f-aa3b-a85c388e89ab' : labUuid(`${name}/local`),
        paths: ['/dev/sdb', '/dev/sde', `/dev/mapper/${localLunWwid(i)}`], name: 'vg_local_luks', vg: 'vg_local_luks',
        lvCount: 1 + lvsOn(STORAGE_LUKS_LOCAL, own), // the thin pool and its volumes
        passphrases: [proxmoxPassphrase(opts, 'local', name)],
      }),
    ];
    for (const v of volumes) { v.open = true; v.openedFrom = v.paths[v.paths.length - 1]!; v.vgActive = true; }
    const state: ProxmoxNodeState = {
      name, kind: 'proxmox-node', power: 'down', bootCount: 0, bootDelayMs: opts.bootDelayMs ?? 3000,
      luks: luksState(volumes, {
        ...(opts.maxUnlockTries !== undefined ? { maxUnlockTries: opts.maxUnlockTries } : {}),
        ...(opts.unlockBootDelayMs !== undefined ? { unlockBootDelayMs: opts.unlockBootDelayMs } : {}),
      }),
      cluster, nodeId: i + 1, address: `10.10.10.${24 + i}`,
      cores: cap.cores ?? 12, threads: cap.threads ?? 24, memBytes: cap.memBytes ?? 64 * GiB,
      bootFreeBytes: cap.bootFreeBytes ?? 180 * 1e6,
      storages: proxmoxStorages(),
      guests: own.map((g) => structuredClone(g)),
      bootedAt: 0,
    };
    return { name, kind: 'proxmox-node', state, location: `lab: simulated Proxmox node ${i + 1} of ${cluster} (HPe DL360G7), shared LUN on /dev/sdd and /dev/sdg` };
  });
  return { hosts, clusters: [{ name: cluster, kind: 'proxmox', hosts: names }] };
}
