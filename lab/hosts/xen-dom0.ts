/**
 * The Xen dom0 host kind: software RAID1 (mdadm) over two SATA disks, as in the wiki page "Remplacement de disque
 * physique", Xen guests as on the Xen page, and LUKS volumes when a preset gives it some. Outputs follow
 * test/fixtures/outputs/ byte for byte.
 */
import { disks, raid1Disks, type Raid1Options, type WithDisks } from '../capabilities/disks/index.js';
import { luks, type WithLuks } from '../capabilities/luks/index.js';
import { detachedJobs, type WithJobs } from '../capabilities/jobs/index.js';
import { lvm, lvmState, GiB, type LvmOptions, type WithLvm } from '../capabilities/lvm/index.js';
import { xenDomains, xl, type WithDomains, type XenDomainOptions } from '../capabilities/xen/xl.js';
import { hostKind, registerPresets } from '../core/registry.js';
import type { LabHostSpec } from '../core/types.js';

export type { XenDomain, XenDomainOptions } from '../capabilities/xen/xl.js';
export type { Disk, MdArray, Member, Partition } from '../capabilities/disks/index.js';

export interface XenDom0State extends WithDisks, WithDomains, WithLuks, WithLvm, WithJobs {
  kind: 'xen-dom0';
}

export interface XenDom0Options extends Raid1Options {
  bootDelayMs?: number;
  /** Guests (domUs) of this dom0; none by default. */
  domains?: XenDomainOptions[];
  /** LVM on the dom0 (vg0 over md1) and its read-only root; none by default. */
  lvm?: LvmOptions;
  /** How fast its detached dd jobs copy (default 1 GiB/s). */
  jobBytesPerSecond?: number;
}

export const xenDom0 = hostKind<XenDom0State>('xen-dom0', [disks, xl, luks, lvm, detachedJobs]);

export function xenDom0Preset(name: string, opts: XenDom0Options = {}): XenDom0State {
  return {
    name,
    kind: 'xen-dom0',
    power: 'down',
    bootCount: 0,
    bootDelayMs: opts.bootDelayMs ?? 3000,
    ...raid1Disks(opts),
    ...(opts.domains ? { domains: xenDomains(opts.domains) } : {}),
    ...(opts.lvm ? lvmState(opts.lvm) : {}),
    ...(opts.jobBytesPerSecond ? { jobBytesPerSecond: opts.jobBytesPerSecond } : {}),
  };
}

/** A Xen dom0, two 8 TB SATA disks in slots 0 and 1, GPT + md0 (20 GiB) + md1 (rest), both RAID1. */
function xenDom0Raid1(name: string, opts: XenDom0Options = {}): LabHostSpec<XenDom0State> {
  return { name, kind: 'xen-dom0', state: xenDom0Preset(name, opts), location: 'lab: simulated dom0, disks in slots 0 and 1' };
}

/**
 * The guests of the Xen page's "Ordre d'arrêt des VMs", with dependencies that give its order: the passive HA
 * firewall and the clients first, then the public server, then the private servers (NFS, LAN/DNS), the firewall
 * last. Everything sits behind the firewall.
 */
export const XEN_PAGE_GUESTS: { name: string; dependsOn: string[] }[] = [
  { name: 'firewall', dependsOn: [] },
  { name: 'firewall-slave', dependsOn: ['firewall'] },
  { name: 'srvnfs', dependsOn: ['firewall'] },
  { name: 'srvlan', dependsOn: ['firewall'] },
  { name: 'srvpub', dependsOn: ['firewall', 'srvnfs', 'srvlan'] },
  { name: 'guest1', dependsOn: ['firewall', 'srvnfs', 'srvlan'] },
  { name: 'guest2', dependsOn: ['firewall', 'srvnfs', 'srvlan', 'srvpub'] },
  { name: 'machin', dependsOn: ['firewall'] },
];

/**
 * A dom0 running the page's guests (created in the list's order, firewall first), its LabHostSpec carrying the
 * dependency graph for the inventory. `domains` tunes single guests by name (e.g. `{ guest2: { hangsOnShutdown: true } }`).
 */
export function xenDom0WithGuests(
  name: string,
  opts: Omit<XenDom0Options, 'domains'> & { domains?: Record<string, Partial<XenDomainOptions>> } = {},
): LabHostSpec<XenDom0State> {
  const { domains: tweaks, ...rest } = opts;
  const memMiB: Record<string, number> = { firewall: 512, 'firewall-slave': 512, srvnfs: 2048, srvlan: 1024, srvpub: 2048 };
  const domains = XEN_PAGE_GUESTS.map((g): XenDomainOptions => ({ name: g.name, memMiB: memMiB[g.name] ?? 1024, ...tweaks?.[g.name] }));
  // Each guest's disk is an LV of vg0, as on the page (guest1_root), 10 GiB; the dom0's root is read-only.
  const volumes = domains.map((d) => ({ name: `${d.name}_root`, sizeBytes: 10 * GiB, guest: d.name }));
  const state = xenDom0Preset(name, { ...rest, domains, lvm: { ...rest.lvm, volumes: rest.lvm?.volumes ?? volumes } });
  return {
    name, kind: 'xen-dom0', state,
    location: 'lab: simulated dom0, disks in slots 0 and 1, guests of the page',
    guests: (state.domains ?? []).map((d) => ({ name: d.name, config: d.config, dependsOn: XEN_PAGE_GUESTS.find((g) => g.name === d.name)?.dependsOn ?? [] })),
  };
}

declare module '../core/registry.js' {
  interface Presets {
    xenDom0Raid1: typeof xenDom0Raid1;
  }
}
registerPresets({ xenDom0Raid1 });
