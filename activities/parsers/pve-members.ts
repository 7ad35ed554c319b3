/**
 * What a member's VM on Proxmox needs read: a node's CPU and memory (`pvesh get /nodes/N/status`), and the VM's
 * firewall (`…/firewall/ipset`, `…/ipset/ipfilter-net0`, `…/options`), all `--output-format json`.
 */
import { z } from 'zod';
import { describeIssues } from '../../common/inventory.js';
import { ParseError } from './mdstat.js';
import { json, Num } from './proxmox.js';

function parsed<T extends z.ZodType>(schema: T, text: string, what: string): z.output<T> {
  const result = schema.safeParse(json(text, what));
  if (!result.success) throw new ParseError(`${what}: not as expected:\n${describeIssues(result.error)}`);
  return result.data;
}

export interface NodeCpu {
  /** Physical cores (cores per socket × sockets): the page's "cœurs", not the threads PVE counts as CPUs. */
  cores: number;
  threads: number;
  memBytes: number;
}

const NodeStatus = z.object({
  cpuinfo: z.object({ cores: Num, sockets: Num, cpus: Num }),
  memory: z.object({ total: Num }),
});

export function parseNodeStatus(text: string): NodeCpu {
  const s = parsed(NodeStatus, text, 'node status');
  return { cores: s.cpuinfo.cores * s.cpuinfo.sockets, threads: s.cpuinfo.cpus, memBytes: s.memory.total };
}

/** The volumes of a storage's content listing (`…/storage/S/content`): `local:iso/debian-12.iso`… */
export function parseContentVolids(text: string): string[] {
  return parsed(z.array(z.object({ volid: z.string() })), text, 'storage content').map((v) => v.volid);
}

/** The IPSets of a VM's firewall, by name. */
export function parseIpsets(text: string): string[] {
  return parsed(z.array(z.object({ name: z.string() })), text, 'firewall IPSets').map((s) => s.name);
}

/**
 * The entries of an IPSet (addresses or networks; `nomatch` ones excluded from the set, so left out here); a single
 * address written as a /32 is given bare, as the address plan names it.
 */
export function parseIpsetEntries(text: string): string[] {
  const entries = parsed(z.array(z.object({ cidr: z.string(), nomatch: z.union([Num, z.boolean()]).optional() })), text, 'IPSet entries');
  return entries.filter((e) => !e.nomatch).map((e) => e.cidr.replace(/\/32$/, ''));
}

/** A VM's firewall options as set (PVE lists only what its .fw file holds), without the digest. */
export function parseFirewallOptions(text: string): Record<string, string | number> {
  const { digest: _, ...options } = parsed(z.record(z.string(), z.union([z.string(), z.number()])), text, 'firewall options');
  return options;
}
