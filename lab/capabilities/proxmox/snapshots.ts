/**
 * `qm snapshot|rollback|delsnapshot|listsnapshot`: VM snapshots, which only storages with the snapshot feature take.
 * On the page's storages that is `lvmthin_luks_local` only: the shared (thick) LVM LUNs "ne supportent pas les
 * snapshots", and Proxmox says "snapshot feature is not available".
 */
import { randomUUID } from 'node:crypto';
import { fail, ok, type CommandResult } from '../../core/types.js';
import type { PveGuest, PveNodeState } from './cluster.js';

export interface PveSnapshot {
  name: string;
  description: string;
  /** The guest's disks' content when taken (the lab's stand-in for their data). */
  content: string;
  takenAt: number;
  /** Taken with `--vmstate 1` (the RAM too): a rollback to it resumes the VM. */
  vmstate?: boolean;
}

/** What the lab's Proxmox guests keep about snapshots: their list and what their disks hold now. */
export interface WithSnapshots {
  snapshots?: PveSnapshot[];
  content?: string;
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]{1,39}$/;

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function qmSnapshots(state: PveNodeState, g: PveGuest & WithSnapshots, sub: string, rest: string[], now: number): CommandResult {
  const [name, ...opts] = rest;
  g.snapshots ??= [];
  if (sub === 'listsnapshot') {
    const lines = g.snapshots.map((s, i) => `${' '.repeat(i)}\`-> ${s.name.padEnd(24)} ${stamp(s.takenAt)}     ${s.description || 'no-description'}`);
    lines.push(`${' '.repeat(g.snapshots.length)}\`-> current${' '.repeat(40)}You are here!`);
    return ok(`${lines.join('\n')}\n`);
  }
  if (!name || !NAME.test(name)) return fail(255, `400 Parameter verification failed.\nsnapname: invalid format - invalid configuration ID '${name ?? ''}'\n`);
  const existing = g.snapshots.find((s) => s.name === name);
  if (sub === 'snapshot') {
    const storages = g.disks.map((d) => state.storages.find((s) => s.name === d.storage));
    if (storages.some((s) => !s || s.type !== 'lvmthin')) return fail(255, 'snapshot feature is not available\n');
    if (existing) return fail(255, `snapshot name '${name}' already used\n`);
    const option = (key: string) => { const i = opts.indexOf(`--${key}`); return i >= 0 ? opts[i + 1] : undefined; };
    const vmstate = option('vmstate') === '1' && g.status === 'running';
    g.snapshots.push({ name, description: option('description') ?? '', content: g.content ?? `${g.name}@v1`, takenAt: now, ...(vmstate ? { vmstate } : {}) });
    return ok(g.status === 'running' ? `snapshotting 'drive-${g.disks[0]!.key}' (${g.disks[0]!.storage}:${g.disks[0]!.volume})\n` : '');
  }
  if (!existing) return fail(255, `snapshot '${name}' does not exist\n`);
  if (sub === 'rollback') {
    g.content = existing.content;
    // PVE::QemuConfig's rollback hook: a VM with a generation id gets a new one, so its guest knows it went back.
    if (g.vmgenid) g.vmgenid = randomUUID();
    // As Proxmox: a rollback leaves the VM stopped, unless the snapshot holds its RAM (vmstate): then it resumes.
    if (existing.vmstate) {
      g.status = 'running';
      g.startedAt = now;
    } else {
      g.status = 'stopped';
      delete g.startedAt;
    }
    return ok();
  }
  g.snapshots.splice(g.snapshots.indexOf(existing), 1);
  return ok();
}
