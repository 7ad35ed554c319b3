/** What Proxmox's tools print: pvecm, pvesh (JSON), pvesm, qm and pct lists and configs. */
import { createHash } from 'node:crypto';
import type { LabView } from '../../core/types.js';
import { clusterNodes, GiB, memUsed, MiB, online, storageActive, storageUsed, type PveGuest, type PveDisk, type PveNodeState, type QuorumView } from './cluster.js';

const p2 = (n: number) => String(n).padStart(2, '0');
export function taskTime(ms: number): string {
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

export function confPath(state: PveNodeState, type: PveGuest['type'], vmid: string): string {
  return `nodes/${state.name}/${type === 'qemu' ? 'qemu-server' : 'lxc'}/${vmid}.conf`;
}

// ---------------------------------------------------------------- renderers

/**
 * corosync-quorumtool's membership table: with a QDevice, a Qdevice column on the nodes' rows (alive, voting,
 * master-wins: A,V,NMW) and the device's own row, node id 0, last.
 */
function membershipRows(state: PveNodeState, q: QuorumView, id: (n: number) => string, name: (n: PveNodeState) => string): string {
  const flags = q.qdevice ? `${(q.qdevice.casting ? 'A,V,NMW' : 'NA,NV,NMW').padStart(10)} ` : '';
  let out = `    Nodeid      Votes${q.qdevice ? '    Qdevice' : ''} Name\n`;
  for (const n of q.members) out += `${id(n.nodeId)} ${'1'.padStart(10)} ${flags}${name(n)}${n === state ? ' (local)' : ''}\n`;
  if (q.qdevice) out += `${id(0)} ${String(q.qdevice.votes).padStart(10)} ${''.padStart(10)} Qdevice${q.qdevice.casting ? '' : ` (votes ${q.qdevice.votes})`}\n`;
  return out;
}

export function renderPvecmStatus(state: PveNodeState, q: QuorumView, now: number, ring: number): string {
  const firstId = q.members[0]?.nodeId ?? state.nodeId;
  let out = 'Quorum information\n------------------\n';
  out += `Date:             ${ctime(now)}\n`;
  out += 'Quorum provider:  corosync_votequorum\n';
  out += `Nodes:            ${q.members.length}\n`;
  out += `Node ID:          ${hex8(state.nodeId)}\n`;
  out += `Ring ID:          ${firstId}/${ring}\n`;
  out += `Quorate:          ${q.quorate ? 'Yes' : 'No'}\n\n`;
  out += 'Votequorum information\n----------------------\n';
  out += `Expected votes:   ${q.expected}\n`;
  out += `Highest expected: ${q.expected}\n`;
  out += `Total votes:      ${q.total}\n`;
  // corosync-quorumtool's own wording: two spaces when quorate, "Activity blocked" otherwise.
  out += `Quorum:           ${q.quorum} ${q.quorate ? ' ' : 'Activity blocked'}\n`;
  out += `Flags:            ${q.quorate ? 'Quorate ' : ''}${q.qdevice ? 'Qdevice ' : ''}\n\n`;
  out += 'Membership information\n----------------------\n';
  return out + membershipRows(state, q, hex8, (n) => n.address);
}

export function renderPvecmNodes(state: PveNodeState, q: QuorumView): string {
  return `\nMembership information\n----------------------\n${membershipRows(state, q, (id) => String(id).padStart(10), (n) => n.name)}`;
}

function guestResource(node: PveNodeState, g: PveGuest, now: number): Record<string, unknown> {
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

/** What the node's memory shows used: the host's own 2 GiB and what its running guests touched. */
const nodeMem = (n: PveNodeState) => 2 * GiB + Math.round(memUsed(n) * 0.6);

/** `pvesh get /nodes/NODE/status`: cpuinfo's cores are per socket (the E5645 has 6), cpus the threads. */
export function renderNodeStatus(n: PveNodeState, now: number): string {
  const sockets = n.sockets ?? 2;
  const used = nodeMem(n);
  return `${JSON.stringify({
    cpuinfo: { cores: Math.floor(n.cores / sockets), sockets, cpus: n.threads, model: 'Intel(R) Xeon(R) CPU E5645 @ 2.40GHz', mhz: '2400.000' },
    memory: { total: n.memBytes, used, free: n.memBytes - used },
    uptime: Math.floor((now - n.bootedAt) / 1000),
  })}\n`;
}

export function renderResources(state: PveNodeState, lab: LabView, now: number): string {
  const nodes = clusterNodes(state, lab);
  const out: Record<string, unknown>[] = [];
  for (const n of nodes) for (const g of [...n.guests].sort((a, b) => a.vmid - b.vmid)) out.push(guestResource(n, g, now));
  for (const n of nodes) {
    // An offline node has no fresh status: PVE leaves its load fields out.
    out.push(online(n)
      ? { id: `node/${n.name}`, type: 'node', node: n.name, status: 'online', level: '', maxmem: n.memBytes, mem: nodeMem(n), maxcpu: n.threads, cpu: 0.03, uptime: Math.floor((now - n.bootedAt) / 1000), maxdisk: 0, disk: 0 }
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

export function renderStorageCfg(state: PveNodeState): string {
  return `${JSON.stringify(state.storages.map((s) => ({
    storage: s.name, type: s.type, shared: s.shared ? 1 : 0, vgname: s.vg, content: s.content, ...(s.thinpool ? { thinpool: s.thinpool } : {}),
  })))}\n`;
}

/** PVE/CLI/pvesm.pm: sizes in KiB, name column as wide as the longest storage id. */
export function renderPvesmStatus(state: PveNodeState, lab: LabView): string {
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

export function renderQmList(state: PveNodeState): string {
  let out = `${'VMID'.padStart(10)} ${'NAME'.padEnd(20)} ${'STATUS'.padEnd(10)} ${'MEM(MB)'.padEnd(10)} ${'BOOTDISK(GB)'.padStart(12)} ${'PID'.padEnd(10)}\n`;
  for (const g of state.guests.filter((x) => x.type === 'qemu').sort((a, b) => a.vmid - b.vmid)) {
    const pid = g.status === 'running' ? 10000 + (g.vmid % 9000) : 0;
    out += `${String(g.vmid).padStart(10)} ${g.name.padEnd(20)} ${g.status.padEnd(10)} ${String(g.memBytes / MiB).padEnd(10)} ${((g.disks[0]?.sizeBytes ?? 0) / GiB).toFixed(2).padStart(12)} ${String(pid).padEnd(10)}\n`;
  }
  return out;
}

export function renderPctList(state: PveNodeState): string {
  let out = `${'VMID'.padEnd(10)} ${'Status'.padEnd(10)} ${'Lock'.padEnd(12)} ${'Name'.padEnd(20)}\n`;
  for (const g of state.guests.filter((x) => x.type === 'lxc').sort((a, b) => a.vmid - b.vmid)) {
    out += `${String(g.vmid).padEnd(10)} ${g.status.padEnd(10)} ${''.padEnd(12)} ${g.name.padEnd(20)}\n`;
  }
  return out;
}

/** `qm config` / `pct config`: keys sorted, as PVE prints them. */
export function renderConfig(g: PveGuest): string {
  const disk = (d: PveDisk) => `${d.storage}:${d.volume},size=${pveSize(d.sizeBytes)}`;
  const keys: Record<string, string> = g.type === 'qemu'
    ? {
        boot: g.bootOrder ?? `order=${g.disks[0]?.key ?? 'scsi0'};net0`, cores: String(g.cores), ide2: `${g.cdrom ?? 'none'},media=cdrom`,
        memory: String(g.memBytes / MiB), name: g.name, numa: '0', onboot: g.onboot ? '1' : '0',
        ostype: g.ostype ?? 'l26', scsihw: g.scsihw ?? 'virtio-scsi-pci', sockets: String(g.sockets ?? 1),
        ...(g.bridge ? { net0: `virtio=${macOf(g.vmid)},bridge=${g.bridge},firewall=1` } : {}),
        ...(g.args !== undefined ? { args: g.args } : {}),
        ...(g.vmgenid ? { vmgenid: g.vmgenid } : {}),
      }
    : {
        arch: 'amd64', cores: String(g.cores), hostname: g.name, memory: String(g.memBytes / MiB),
        net0: `name=eth0,bridge=${g.bridge},firewall=1,hwaddr=${macOf(g.vmid)},type=veth`, onboot: g.onboot ? '1' : '0',
        ostype: 'debian', swap: '512', unprivileged: '1',
      };
  for (const d of g.disks) keys[d.key] = disk(d);
  return Object.keys(keys).sort().map((k) => `${k}: ${keys[k]}\n`).join('');
}
