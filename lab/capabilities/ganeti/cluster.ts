/**
 * A Ganeti cluster as on the page (ganeti-member-vm-onboarding.txt): nodes with a hypervisor, one of them the master
 * (mutine), the only one where `gnt-*` commands run. The cluster is not a separate object: the master's state holds
 * the cluster's configuration (its instances), and every node finds the master and its peers through ctx.lab, as
 * the Proxmox nodes do (lab/capabilities/proxmox/cluster.ts).
 */
import type { BaseHostState, LabView } from '../../core/types.js';
import { fail, type CommandResult } from '../../core/types.js';

export interface GntInstance {
  /** The page's `$REF_ABO.faimaison.net`. */
  name: string;
  pnode: string;
  snode: string;
  os: string;
  hypervisor: 'kvm';
  /** Ganeti's admin state as `status` shows it. */
  status: 'running' | 'ADMIN_down';
  maxmemMiB: number;
  diskMiB: number;
  ips: string[];
  /** The VNC console's port, from the cluster's pool (Ganeti starts it at 11000). */
  networkPort: number;
  /** hv/boot_order: `cdrom` (the installer ISO) until an admin sets `disk`. */
  bootOrder: 'cdrom' | 'disk';
  /** What the running instance booted from (the boot order at its last start). */
  bootedFrom?: 'cdrom' | 'disk';
  /** Being created (gnt-instance add under way) until then. */
  readyAt?: number;
}

export interface GanetiFacts {
  cluster: string;
  /** The master node's name: every node knows it (ssconf). */
  master: string;
  memTotalMiB: number;
  diskTotalMiB: number;
  /** Master only: the cluster's configuration. */
  instances?: GntInstance[];
  /** Master only: how long `gnt-instance add` takes (disks, OS install). */
  addMs?: number;
}

export interface WithGaneti extends BaseHostState {
  ganeti?: GanetiFacts;
}

const isGanetiNode = (h: BaseHostState | undefined): h is WithGaneti => h !== undefined && 'ganeti' in h && (h as WithGaneti).ganeti !== undefined;

/** The cluster's nodes in name order, `state` included. */
export function clusterNodes(state: WithGaneti, lab: LabView): WithGaneti[] {
  const others = lab.hosts().filter(isGanetiNode).filter((n) => n.ganeti!.cluster === state.ganeti!.cluster && n.name !== state.name);
  return [state, ...others].sort((a, b) => a.name.localeCompare(b.name));
}

/** Ganeti's refusal of a gnt-* command off the master (its cli's wording). */
export function notMaster(state: WithGaneti): CommandResult | null {
  if (state.ganeti!.master === state.name) return null;
  return fail(1, `Failure: prerequisites not met for this operation:\nThis is not the master node, please connect to node '${state.ganeti!.master}' and rerun the command\n`);
}

export const prereq = (kind: 'wrong_input' | 'unknown_entity' | 'wrong_state', details: string) =>
  fail(1, `Failure: prerequisites not met for this operation:\nerror type: ${kind}, error details:\n${details}\n`);

/** Bring instances being created to their end: started from the installer (boot order cdrom). */
export function settleInstances(state: WithGaneti, now: number): void {
  for (const i of state.ganeti?.instances ?? []) {
    if (i.readyAt !== undefined && now >= i.readyAt) {
      delete i.readyAt;
      Object.assign(i, { status: 'running', bootedFrom: i.bootOrder });
    }
  }
}

/**
 * Sizes as Ganeti reads them: a bare number is mebibytes, or a suffix m, g, t (`-s 10G`). null when unreadable.
 */
export function mebibytes(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)([mgtMGT]?)$/.exec(text);
  if (!m) return null;
  const factor = { '': 1, m: 1, g: 1024, t: 1024 * 1024 }[m[2]!.toLowerCase() as '' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * factor);
}

/** A `list` field's value: a number is a size in MiB (with --separator shown bare, as the man page says; else human). */
export type Field<T> = (item: T) => string | number;

/** `list [--no-headers] [--separator=S] [-o [+]FIELDS] [names]` over `rows`: the tools' own table or script format. */
export function listTable<T extends { name: string }>(
  rows: T[], args: string[], fields: Record<string, Field<T>>, defaults: string[], headers: Record<string, string>, kind: string,
): CommandResult {
  let noHeaders = false;
  let separator: string | undefined;
  let selected = defaults;
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--no-headers') noHeaders = true;
    else if (a.startsWith('--separator=')) separator = a.slice('--separator='.length);
    else if (a === '-o' || a === '--output') {
      const spec = args[++i] ?? '';
      selected = spec.startsWith('+') ? [...defaults, ...spec.slice(1).split(',')] : spec.split(',');
    } else if (a.startsWith('-')) return fail(2, `Usage: gnt-${kind} list [options...] <${kind}>...\n\ngnt-${kind}: error: no such option: ${a}\n`);
    else names.push(a);
  }
  const unknown = selected.filter((f) => !(f in fields));
  if (unknown.length) return fail(1, `Failure: prerequisites not met for this operation:\nUnknown output fields selected: ${unknown.join(',')}\n`);
  const chosen: T[] = [];
  for (const n of names) {
    // Ganeti expands a short name to the one full name that starts with it.
    const hit = rows.filter((r) => r.name === n || r.name.startsWith(`${n}.`));
    if (hit.length !== 1) return prereq('unknown_entity', `${kind === 'node' ? 'Node' : 'Instance'} '${n}' not known`);
    chosen.push(hit[0]!);
  }
  const show = (v: string | number) => (typeof v === 'string' ? v : separator !== undefined ? String(v) : human(v));
  const table = (names.length ? chosen : rows).map((r) => selected.map((f) => show(fields[f]!(r))));
  if (separator !== undefined) {
    const lines = [...(noHeaders ? [] : [selected.map((f) => headers[f] ?? f)]), ...table].map((cols) => cols.join(separator));
    return { stdout: Buffer.from(lines.map((l) => `${l}\n`).join('')), stderr: '', exitCode: 0 };
  }
  const all = [...(noHeaders ? [] : [selected.map((f) => headers[f] ?? f)]), ...table];
  const widths = selected.map((_, c) => Math.max(...all.map((row) => row[c]!.length)));
  const lines = all.map((row) => row.map((v, c) => (c === row.length - 1 ? v : v.padEnd(widths[c]!))).join(' ').trimEnd());
  return { stdout: Buffer.from(lines.map((l) => `${l}\n`).join('')), stderr: '', exitCode: 0 };
}

/** Human units for the table format (Ganeti's `h`): 512M, 10.0G, 1.8T. */
export function human(mib: number): string {
  if (mib >= 1024 * 1024) return `${(mib / 1024 / 1024).toFixed(1)}T`;
  if (mib >= 1024) return `${(mib / 1024).toFixed(1)}G`;
  return `${mib}M`;
}
