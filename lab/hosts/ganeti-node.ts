/**
 * Ganeti nodes, as on the page (ganeti-member-vm-onboarding.txt): Debian hypervisors in a cluster, one of them the
 * master (kind ganeti-master, mutine on the page) where every `gnt-*` command runs; the others refuse them. Each has
 * two disks in software RAID1 (and LUKS volumes when a preset gives some), its groups, sshd_config and the members'
 * jailed accounts (the hypervisor setup, the onboarding), and detached jobs for the slow `gnt-instance add`.
 */
import { disks, raid1Disks, type Raid1Options, type WithDisks } from '../capabilities/disks/index.js';
import { accounts, ganeti, type WithAccounts, type WithGaneti } from '../capabilities/ganeti/index.js';
import { detachedJobs, type WithJobs } from '../capabilities/jobs/index.js';
import { luks, type WithLuks } from '../capabilities/luks/index.js';
import { matchGroupBlock } from '../../common/commands.js';
import { DEBIAN_SSHD_CONFIG, sshd, sshdState } from '../capabilities/sshd/index.js';
import { hostKind, registerPresets } from '../core/registry.js';
import type { LabClusterSpec, LabHostSpec } from '../core/types.js';

export interface GanetiNodeState extends WithDisks, WithLuks, WithAccounts, WithGaneti, WithJobs {
  kind: 'ganeti-node' | 'ganeti-master';
}

export interface GanetiNodeOptions extends Raid1Options {
  bootDelayMs?: number;
  /** Its /etc/ssh/sshd_config (Debian's by default). */
  sshdConfig?: string;
}

const capabilities = [disks, luks, sshd, accounts, ganeti, detachedJobs];
export const ganetiNode = hostKind<GanetiNodeState>('ganeti-node', capabilities);
export const ganetiMaster = hostKind<GanetiNodeState>('ganeti-master', capabilities);

/** A Ganeti node outside any cluster (the hypervisor setup's tests): disks in slots 0 and 1, md0 and md1 in RAID1. */
function ganetiNodeSkeleton(name: string, opts: GanetiNodeOptions = {}): LabHostSpec<GanetiNodeState> {
  return {
    name, kind: 'ganeti-node',
    state: { name, kind: 'ganeti-node', power: 'down', bootCount: 0, bootDelayMs: opts.bootDelayMs ?? 3000, ...raid1Disks(opts), ...sshdState(opts.sshdConfig) },
    location: 'lab: simulated Ganeti node (no cluster), disks in slots 0 and 1',
  };
}

export interface GanetiClusterOptions extends GanetiNodeOptions {
  cluster?: string;
  /** Node names, the master first. */
  nodes?: string[];
  memTotalMiB?: number;
  diskTotalMiB?: number;
  /** How long `gnt-instance add` takes. */
  addMs?: number;
  /** The hypervisor setup done on every node (ganetiHypervisorSetup): the group ref-host-vm and its Match group block. */
  prepared?: boolean;
}

const MEMBERS_GROUP = 'ref-host-vm';

/** A Ganeti cluster: the master and its nodes, no instance yet. */
function ganetiCluster(opts: GanetiClusterOptions = {}): { hosts: LabHostSpec<GanetiNodeState>[]; clusters: LabClusterSpec[] } {
  const cluster = opts.cluster ?? 'gnt';
  const names = opts.nodes ?? ['gnt-master', 'gnt-node'];
  const hosts = names.map((name, i): LabHostSpec<GanetiNodeState> => {
    const kind = i === 0 ? 'ganeti-master' : 'ganeti-node';
    const ssh = sshdState(opts.prepared ? `${opts.sshdConfig ?? DEBIAN_SSHD_CONFIG}\n${matchGroupBlock(MEMBERS_GROUP)}\n` : opts.sshdConfig);
    if (opts.prepared) ssh.groups!.push({ name: MEMBERS_GROUP, gid: 1001 });
    const state: GanetiNodeState = {
      name, kind, power: 'down', bootCount: 0, bootDelayMs: opts.bootDelayMs ?? 300, ...raid1Disks(opts), ...ssh,
      ganeti: { cluster, master: names[0]!, memTotalMiB: opts.memTotalMiB ?? 64 * 1024, diskTotalMiB: opts.diskTotalMiB ?? 2 * 1024 * 1024, ...(i === 0 ? { instances: [], addMs: opts.addMs ?? 3000 } : {}) },
    };
    return { name, kind, state, location: `lab: simulated Ganeti ${i === 0 ? 'master' : 'node'} of ${cluster}` };
  });
  return { hosts, clusters: [{ name: cluster, kind: 'ganeti', hosts: names }] };
}

declare module '../core/registry.js' {
  interface Presets {
    ganetiNodeSkeleton: typeof ganetiNodeSkeleton;
    ganetiCluster: typeof ganetiCluster;
  }
}
registerPresets({ ganetiNodeSkeleton, ganetiCluster });
