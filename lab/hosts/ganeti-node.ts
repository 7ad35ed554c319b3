/**
 * SKELETON of a Ganeti node host kind, for the Ganeti runbooks to come (VM onboarding, cluster teardown): a Debian
 * node with the shared capabilities only, two disks in software RAID1 and LUKS volumes when a preset gives some.
 * It answers what every host answers (hostname, boot id, reboot, poweroff) through the base dispatcher, and mdadm,
 * lsblk... through the disks capability, and its groups and sshd_config (the hypervisor setup) through the sshd one. No gnt-* command yet: those belong in a Ganeti capability
 * (lab/capabilities/ganeti/), added to the list below when a runbook needs them.
 */
import { disks, raid1Disks, type Raid1Options, type WithDisks } from '../capabilities/disks/index.js';
import { luks, type WithLuks } from '../capabilities/luks/index.js';
import { sshd, sshdState, type WithSshd } from '../capabilities/sshd/index.js';
import { hostKind, registerPresets } from '../core/registry.js';
import type { LabHostSpec } from '../core/types.js';

export interface GanetiNodeState extends WithDisks, WithLuks, WithSshd {
  kind: 'ganeti-node';
}

export interface GanetiNodeOptions extends Raid1Options {
  bootDelayMs?: number;
  /** Its /etc/ssh/sshd_config (Debian's by default). */
  sshdConfig?: string;
}

export const ganetiNode = hostKind<GanetiNodeState>('ganeti-node', [disks, luks, sshd]);

/** A Ganeti node (skeleton): two 8 TB disks in slots 0 and 1, md0 and md1 in RAID1, no Ganeti command yet. */
function ganetiNodeSkeleton(name: string, opts: GanetiNodeOptions = {}): LabHostSpec<GanetiNodeState> {
  return {
    name, kind: 'ganeti-node',
    state: { name, kind: 'ganeti-node', power: 'down', bootCount: 0, bootDelayMs: opts.bootDelayMs ?? 3000, ...raid1Disks(opts), ...sshdState(opts.sshdConfig) },
    location: 'lab: simulated Ganeti node (skeleton: no gnt-* command yet), disks in slots 0 and 1',
  };
}

declare module '../core/registry.js' {
  interface Presets {
    ganetiNodeSkeleton: typeof ganetiNodeSkeleton;
  }
}
registerPresets({ ganetiNodeSkeleton });
