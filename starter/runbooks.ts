/**
 * The runbooks `npx runbook start` knows, one descriptor each: its name, workflow type, input schema (from
 * common/inputs.ts), what its flags mean, the summary its run shows in the UI, and the answers (Updates) and
 * queries it takes while it runs. Adding a runbook to the CLI is adding one entry here; its flags and its
 * `--help` come from the schema (starter/flags.ts).
 */
import type { QueryDefinition } from '@temporalio/common';
import type { z } from 'zod';
import {
  ClusterTeardownInput, DiskReplacementInput, GanetiHypervisorSetupInput, HypervisorRebootInput, ProxmoxSnapshotInput, LuksKeyRotationInput, NodeSeparationInput, RebootHostInput, RollingClusterRebootInput, VmBackupInput, VmDiskResizeInput, VmMigrationInput, VmOnboardingInput, VmRestoreInput, VmSnapshotInput,
} from '../common/inputs.js';
import {
  approveUpdate, decideUpdate, diskReplacedUpdate, installDoneUpdate, planQuery, progressQuery, submitPassphraseUpdate,
} from '../workflows/messages.js';
import { flagsOf, type FieldFlags, type Flag } from './flags.js';

export interface Runbook {
  /** As people type it: `npx runbook start <name>`. */
  name: string;
  /** The workflow type (also accepted as the name). */
  type: string;
  /** One line for `npx runbook help`. */
  title: string;
  schema: z.ZodObject;
  flags: readonly Flag[];
  /** The run's summary in the Web UI and `list`. */
  summary(input: Record<string, unknown>): string;
  /** The Updates people answer this runbook with while it runs (by name, as in workflows/messages.ts). */
  answers: readonly { name: string }[];
  /** The queries it answers. */
  queries: readonly QueryDefinition<unknown, []>[];
  /** Where the default workflow id comes from: `<name>-<value of this field>-<time>`. */
  target: string;
}

interface RunbookSpec<S extends z.ZodObject> extends Omit<Runbook, 'schema' | 'flags' | 'summary' | 'target'> {
  schema: S;
  flags: FieldFlags<S>;
  summary(input: z.output<S>): string;
  target: keyof z.output<S> & string;
}

function runbook<S extends z.ZodObject>(spec: RunbookSpec<S>): Runbook {
  return { ...spec, flags: flagsOf(spec.schema, spec.flags), summary: (input) => spec.summary(input as z.output<S>) };
}

const durations = {
  downTimeout: 'how long the host may take to stop answering after the reboot command',
  pollInterval: 'how often the host is probed while it reboots',
} as const;

export const RUNBOOKS: readonly Runbook[] = [
  runbook({
    name: 'disk-replacement',
    type: 'diskReplacement',
    title: 'replace a failed disk of an mdadm RAID1 (Xen page "Remplacement de disque physique")',
    schema: DiskReplacementInput,
    flags: {
      host: 'the host with the failed disk',
      arrays: 'only these arrays, one flag each (by default every array that uses the failed disk)',
      failedDisk: 'the failed disk (kernel name or serial), when mdadm cannot tell; by default read from /proc/mdstat',
      swap: 'hot: swapped while the host runs; cold: the host is powered off for the swap',
      resyncPollInterval: 'how often the resync is looked at',
      bootTimeout: 'how long the host may take to come back after a cold swap',
    },
    summary: (i) => `Disk replacement on ${i.host}`,
    answers: [diskReplacedUpdate, decideUpdate],
    queries: [progressQuery, planQuery],
    target: 'host',
  }),
  runbook({
    name: 'reboot-host',
    type: 'rebootHost',
    title: 'reboot or power off a host and wait until it answers again',
    schema: RebootHostInput,
    flags: {
      host: 'the host',
      action: 'reboot: it comes back by itself; poweroff: a person powers it on again',
      reason: 'why (kept in the record)',
      upTimeout: 'how long the host may take to answer again; past it a person decides',
      comesBackIn: 'the SSH server the host answers in once back (dropbear: it waits for its disk passphrase)',
      leases: { hidden: true }, // set by a parent runbook for its child only
      ...durations,
    },
    summary: (i) => `${i.action} ${i.host}: ${i.reason}`,
    answers: [decideUpdate],
    queries: [progressQuery],
    target: 'host',
  }),
  runbook({
    name: 'hypervisor-reboot',
    type: 'hypervisorReboot',
    title: 'planned reboot of a Proxmox node or Xen dom0 ("Redémarrage planifié hyperviseur")',
    schema: HypervisorRebootInput,
    flags: {
      host: 'the Proxmox node or Xen dom0 to reboot',
      reason: 'why it reboots (kept in the record and the admins\' mail)',
      afterUpgrade: 'after an upgrade: check that /boot has ~70 MB free first',
      migrateBack: { negate: true, help: 'Proxmox: leave the guests where they were migrated to' },
      upTimeout: 'how long the host may take to answer again (the page says 2-5 minutes); past it a person decides',
      guestShutdownTimeout: 'how long a Xen guest may take to shut down before a person decides',
      approvalTimeout: 'how long the plan waits for its approvals (default: the inventory policy\'s expireAfter); past it nothing was changed and the run ends',
      approvalRemindAfter: 'when the approvers are reminded by mail (default: the inventory policy\'s remindAfter)',
      approvalEscalateAfter: 'when the policy\'s second group is mailed (default: the policy\'s escalateTo.after)',
      requestedBy: { help: 'who starts the run: never one of its approvers (default $USER)', value: 'NAME' },
      unlockTries: 'passphrase tries the host\'s initramfs allows; when they are spent a person decides: power-cycle and retry, or give up',
      approvedInRoll: { hidden: true }, // set by rolling-cluster-reboot for its children only
      leases: { hidden: true },
      ...durations,
    },
    summary: (i) => `Planned reboot of ${i.host}: ${i.reason}`,
    answers: [approveUpdate, decideUpdate, submitPassphraseUpdate],
    queries: [progressQuery, planQuery],
    target: 'host',
  }),
  runbook({
    name: 'rolling-cluster-reboot',
    type: 'rollingClusterReboot',
    title: 'reboot every node of a Proxmox cluster, one at a time (child hypervisor-reboot runs ID-NODE)',
    schema: RollingClusterRebootInput,
    flags: {
      cluster: { help: 'the cluster, as named in the inventory', value: 'CLUSTER' },
      reason: 'why the nodes reboot',
      afterUpgrade: 'after an upgrade: check each node\'s /boot first',
      migrateBack: { negate: true, help: 'leave the guests where they were migrated to' },
      upTimeout: 'how long each node may take to answer again',
      guestShutdownTimeout: 'how long a guest may take to shut down before a person decides',
      approvalTimeout: 'how long the roll waits for its approvals (default: the inventory policy\'s expireAfter)',
      approvalRemindAfter: 'when the approvers are reminded by mail (default: the inventory policy\'s remindAfter)',
      approvalEscalateAfter: 'when the policy\'s second group is mailed (default: the policy\'s escalateTo.after)',
      requestedBy: { help: 'who starts the roll: never one of its approvers (default $USER)', value: 'NAME' },
      unlockTries: 'passphrase tries each node\'s initramfs allows',
      ...durations,
    },
    summary: (i) => `Rolling reboot of cluster ${i.cluster}: ${i.reason}`,
    // The nodes' decisions and passphrases go to the children: `npx runbook unlock ID-NODE`.
    answers: [approveUpdate],
    queries: [progressQuery, planQuery],
    target: 'cluster',
  }),
  runbook({
    name: 'luks-key-rotation',
    type: 'luksKeyRotation',
    title: 'rotate a LUKS passphrase: add the new one, test it, only then remove the old one ("Rotation de clé")',
    schema: LuksKeyRotationInput,
    flags: {
      host: 'the host',
      device: { help: 'the LUKS device; by default the root volume from /etc/crypttab', value: 'PATH' },
      reason: 'why (kept in the record)',
    },
    summary: (i) => `LUKS key rotation on ${i.host}${i.device ? ` (${i.device})` : ''}`,
    answers: [submitPassphraseUpdate, decideUpdate],
    queries: [progressQuery, planQuery],
    target: 'host',
  }),
  runbook({
    name: 'node-separation',
    type: 'nodeSeparation',
    title: 'take one node out of its Proxmox cluster ("Démonter notre cluster Proxmox"): guests moved, two approvals',
    schema: NodeSeparationInput,
    flags: {
      host: 'the Proxmox node that leaves its cluster',
      reason: 'why it leaves (kept in the record and the admins\' mail)',
      pollInterval: 'how often the remaining cluster\'s quorum is read at the end',
      upTimeout: 'how long the remaining cluster may take to show the expected votes; past it a person decides',
      osdDrainTimeout: 'how long an OSD marked out may take to move its data away (ceph osd safe-to-destroy); past it a person decides',
      approvalTimeout: 'how long the plan waits for its approvals (default: the inventory policy\'s expireAfter)',
      approvalRemindAfter: 'when the approvers are reminded by mail (default: the policy\'s remindAfter)',
      approvalEscalateAfter: 'when the policy\'s second group is mailed (default: the policy\'s escalateTo.after)',
      requestedBy: { help: 'who starts the run: never one of its approvers (default $USER)', value: 'NAME' },
    },
    summary: (i) => `Take ${i.host} out of its Proxmox cluster: ${i.reason}`,
    answers: [approveUpdate, decideUpdate],
    queries: [progressQuery, planQuery],
    target: 'host',
  }),
  runbook({
    name: 'cluster-teardown',
    type: 'clusterTeardown',
    title: 'take a whole Proxmox (+Ceph) cluster apart down to standalone nodes: pools, OSDs, QDevice, every node separated; two approvals',
    schema: ClusterTeardownInput,
    flags: {
      cluster: { help: 'the Proxmox cluster, as named in the inventory', value: 'CLUSTER' },
      reason: 'why the cluster is taken apart (kept in the record and the admins\' mail)',
      pollInterval: 'how often an emptied OSD and the nodes\' state are looked at',
      upTimeout: 'how long a look may take to show what is awaited; past it a person decides',
      osdDrainTimeout: 'how long an OSD marked out may take to move its data away (ceph osd safe-to-destroy); past it a person decides',
      approvalTimeout: 'how long the plan waits for its approvals (default: the inventory policy\'s expireAfter)',
      approvalRemindAfter: 'when the approvers are reminded by mail (default: the policy\'s remindAfter)',
      approvalEscalateAfter: 'when the policy\'s second group is mailed (default: the policy\'s escalateTo.after)',
      requestedBy: { help: 'who starts the run: never one of its approvers (default $USER)', value: 'NAME' },
    },
    summary: (i) => `Take the Proxmox cluster ${i.cluster} apart: ${i.reason}`,
    answers: [approveUpdate, decideUpdate],
    queries: [progressQuery, planQuery],
    target: 'cluster',
  }),
  runbook({
    name: 'vm-disk-resize',
    type: 'vmDiskResize',
    title: 'grow a Xen guest\'s logical volume and its filesystem ("Extension de la taille d\'une partition de VM")',
    schema: VmDiskResizeInput,
    flags: {
      host: 'the Xen dom0',
      guest: { help: 'the guest whose disk grows (stopped for the resize, started again after)', value: 'GUEST' },
      volume: { help: 'its logical volume, e.g. guest1_root', value: 'LV' },
      vg: { help: 'the volume group', value: 'VG' },
      add: { help: 'the size to add, e.g. 2G (never a shrink)', value: 'SIZE' },
      reason: 'why (kept in the record)',
      guestShutdownTimeout: 'how long the guest may take to shut down before a person decides',
      pollInterval: 'how often xl list is read while the guest stops',
      approvalTimeout: 'how long the plan waits for its approval',
    },
    summary: (i) => `Grow ${i.vg}/${i.volume} of ${i.guest} on ${i.host} by ${i.add}`,
    answers: [approveUpdate, decideUpdate],
    queries: [progressQuery, planQuery],
    target: 'host',
  }),
  runbook({
    name: 'vm-backup',
    type: 'vmBackup',
    title: 'copy an LVM snapshot to a compressed file on the dom0 (dd | bzip2 as a detached job, "Snapshot d\'une VM")',
    schema: VmBackupInput,
    flags: {
      host: 'the Xen dom0',
      vg: { help: 'the volume group', value: 'VG' },
      snapshot: { help: 'the snapshot to copy (take one with vm-snapshot)', value: 'LV' },
      file: { help: 'the file to write (never overwritten), on a writable filesystem of the dom0', value: 'PATH' },
      removeSnapshot: 'remove the snapshot once copied',
      pollInterval: 'how often the copy\'s progress is read',
      approvalTimeout: 'how long the plan waits for its approval',
    },
    summary: (i) => `Back up ${i.vg}/${i.snapshot} on ${i.host} to ${i.file}`,
    answers: [approveUpdate, decideUpdate],
    queries: [progressQuery, planQuery],
    target: 'host',
  }),
  runbook({
    name: 'vm-snapshot',
    type: 'vmSnapshot',
    title: 'take an LVM snapshot of a Xen guest\'s volume and watch its fill ("Snapshot d\'une VM")',
    schema: VmSnapshotInput,
    flags: {
      host: 'the Xen dom0',
      guest: { help: 'the guest', value: 'GUEST' },
      vg: { help: 'the volume group', value: 'VG' },
      volume: { help: 'the guest\'s logical volume, e.g. guest1_root', value: 'LV' },
      name: { help: 'the snapshot\'s name (default VOLUME_snap1)', value: 'LV' },
      purpose: 'config-change: a small snapshot (1G); major-upgrade: as large as the volume',
      stopGuest: { negate: true, help: 'snapshot the guest while it runs' },
      fillThreshold: { help: 'mail the admins once the snapshot is this full (percent)', value: 'PERCENT' },
      fillPollInterval: 'how often the snapshot\'s fill is read',
      watchFor: 'how long the fill is watched (less if the snapshot is removed)',
      guestShutdownTimeout: 'how long the guest may take to shut down before a person decides',
      pollInterval: 'how often xl list is read while the guest stops',
      approvalTimeout: 'how long the plan waits for its approval',
    },
    summary: (i) => `Snapshot of ${i.vg}/${i.volume} (${i.guest}) on ${i.host}, ${i.purpose}`,
    answers: [approveUpdate, decideUpdate],
    queries: [progressQuery, planQuery],
    target: 'host',
  }),
  runbook({
    name: 'vm-restore',
    type: 'vmRestore',
    title: 'restore a Xen guest\'s volume from its snapshot (lvconvert --merge) or from a backup file',
    schema: VmRestoreInput,
    flags: {
      host: 'the Xen dom0',
      guest: { help: 'the guest (stopped for the restore)', value: 'GUEST' },
      vg: { help: 'the volume group', value: 'VG' },
      volume: { help: 'the volume to overwrite', value: 'LV' },
      from: 'snapshot: merge the snapshot back; file: copy a backup file onto the volume',
      snapshot: { help: 'the snapshot to merge (from snapshot)', value: 'LV' },
      file: { help: 'the backup file (from file)', value: 'PATH' },
      guestShutdownTimeout: 'how long the guest may take to shut down before a person decides',
      pollInterval: 'how often the copy\'s progress (or xl list) is read',
      approvalTimeout: 'how long the plan waits for its approval',
    },
    summary: (i) => `Restore ${i.vg}/${i.volume} (${i.guest}) on ${i.host} from its ${i.from}`,
    answers: [approveUpdate, decideUpdate],
    queries: [progressQuery, planQuery],
    target: 'host',
  }),
  runbook({
    name: 'proxmox-snapshot',
    type: 'proxmoxSnapshot',
    title: 'qm snapshot, rollback or delsnapshot of a VM on lvmthin_luks_local (refused on the shared LUNs)',
    schema: ProxmoxSnapshotInput,
    flags: {
      host: 'the node that runs the VM',
      vmid: { help: 'the VM', value: 'VMID' },
      action: 'snapshot: take it; rollback: back to it (the VM stops); delete: drop it',
      name: { help: 'the snapshot\'s name', value: 'NAME' },
      description: { help: 'kept with a new snapshot', value: 'TEXT' },
      approvalTimeout: 'how long the plan waits for its approval',
    },
    summary: (i) => `${i.action} ${i.name} of VM ${i.vmid} on ${i.host}`,
    answers: [approveUpdate, decideUpdate],
    queries: [progressQuery, planQuery],
    target: 'host',
  }),
  runbook({
    name: 'ganeti-hypervisor-setup',
    type: 'ganetiHypervisorSetup',
    title: 'prepare a Ganeti hypervisor for members\' jailed SSH users: group and Match group block, checked by sshd -t',
    schema: GanetiHypervisorSetupInput,
    flags: {
      host: 'the Ganeti node',
      group: { help: 'the members\' group', value: 'GROUP' },
      approvalTimeout: 'how long the plan waits for its approval',
    },
    summary: (i) => `Ganeti hypervisor setup of ${i.host} (group ${i.group})`,
    answers: [approveUpdate, decideUpdate],
    queries: [progressQuery, planQuery],
    target: 'host',
  }),
  runbook({
    name: 'vm-onboarding',
    type: 'vmOnboarding',
    title: 'a member\'s VM on Ganeti or Proxmox: board approval, REF and IP, DNS, the VM (gnt-instance add, or qm create within the capacity rules and its firewall), the jailed VNC account, mails; boot from disk once installed',
    schema: VmOnboardingInput,
    flags: {
      member: 'the member\'s mail address, as in the inventory\'s people',
      sshKey: { help: 'the member\'s SSH public key line (the .pub file\'s content)', value: 'KEY' },
      platform: 'the members\' platform (the inventory\'s memberVms says which cluster)',
      diskGiB: { help: 'the disk size, GiB (Ganeti\'s page: 10; Proxmox\'s: 20)', flag: 'disk-gib', value: 'N' },
      memoryMiB: { help: 'Proxmox: the memory, MiB (the page: 1024)', flag: 'memory-mib', value: 'N' },
      cores: { help: 'Proxmox: the vCPUs (the page: 1)', value: 'N' },
      storage: { help: 'Proxmox: the storage class (the inventory\'s memberVms.proxmox.storages; the first by default)', value: 'STORAGE' },
      os: 'the Ganeti OS (the page: debootstrap+default)',
      request: { hidden: true }, // set by vmRequest: the request mail's Message-ID and verdict
      requestedBy: { help: 'who starts the run: never its approver (default $USER)', value: 'NAME' },
      approvalTimeout: 'how long the plan waits for a board member\'s approval',
      remindAfter: 'how often the member is reminded while the install is not said done',
      escalateAfter: 'when the admins are mailed about an install not said done',
    },
    summary: (i) => `VM onboarding of ${i.member}`,
    answers: [approveUpdate, installDoneUpdate, decideUpdate],
    queries: [progressQuery, planQuery],
    target: 'member',
  }),
  runbook({
    name: 'vm-migration',
    type: 'vmMigration',
    title: 'a member\'s VM moved to another Ganeti node: gnt-instance migrate -n, the jailed VNC account on the new node, the banners, a mail',
    schema: VmMigrationInput,
    flags: {
      instance: { help: 'the member\'s reference (REF-HOST-VM-N) or the instance\'s name', value: 'REF' },
      targetNode: { help: 'the node it moves to (its DRBD secondary)', flag: 'target-node', value: 'NODE' },
      reason: 'why the VM moves',
      requestedBy: { help: 'who starts the run: never its approver (default $USER)', value: 'NAME' },
      approvalTimeout: 'how long the plan waits for its approval',
    },
    summary: (i) => `VM migration of ${i.instance} to ${i.targetNode}`,
    answers: [approveUpdate, decideUpdate],
    queries: [progressQuery, planQuery],
    target: 'instance',
  }),
];

/** By name, or by workflow type (`start diskReplacement --input request.json`). */
export function runbookNamed(name: string): Runbook | undefined {
  return RUNBOOKS.find((r) => r.name === name) ?? RUNBOOKS.find((r) => r.type === name);
}
