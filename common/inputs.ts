/**
 * Runbook inputs, validated with zod at every edge: our CLI before it starts a run, and the workflow itself
 * as its very first step (a run started from the Temporal UI or CLI goes through the same schema), so a bad
 * input is refused with a clear message before any SSH.
 */
import { z } from 'zod';
import { HostName } from './validation.js';
import { SealedSecret } from './sealed.js';

/** A Temporal duration string such as "30s", "5 minutes", "2h". */
export const Duration = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d|seconds?|minutes?|hours?|days?)$/, { message: 'must be a duration such as "30s", "5 minutes" or "2h"' });

export const ArrayName = z.string().regex(/^md[0-9]{1,3}$/, { message: 'must be an md array name such as "md0"' });

/** A disk named by its kernel name (sda, nvme0n1) or by its serial number. */
export const DiskRef = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: 'must be a kernel disk name such as "sda" or a serial number (letters, digits, - _ .)' });

/** Set by a parent runbook for its children: the host leases it holds for them. Honoured only from the run's parent. */
export const InheritedLeases = z.object({
  holder: z.string().min(1).max(300),
  resources: z.array(z.string().min(1).max(300)).max(100),
}).strict();

export const DiskReplacementInput = z.object({
  host: HostName,
  /** Only these arrays; by default every array that uses the failed disk. */
  arrays: z.array(ArrayName).min(1).optional(),
  /** The failed disk, when mdadm cannot tell (both members still active). By default it is read from /proc/mdstat. */
  failedDisk: DiskRef.optional(),
  /** hot: the disk is swapped while the host runs. cold: the host is powered off for the swap and comes back. */
  swap: z.enum(['hot', 'cold']).default('hot'),
  /** How often the resync is looked at; the default suits real disks (hours), tests pass seconds. */
  resyncPollInterval: Duration.default('1 minute'),
  /** How long the host may take to come back after a cold swap before the runbook gives up waiting. */
  bootTimeout: Duration.default('2 hours'),
}).strict();
export type DiskReplacementInput = z.input<typeof DiskReplacementInput>;
export type DiskReplacementRequest = z.output<typeof DiskReplacementInput>;

export const RebootHostInput = z.object({
  host: HostName,
  /** reboot: the host comes back by itself. poweroff: a person powers it on again (e.g. after a disk swap). */
  action: z.enum(['reboot', 'poweroff']),
  reason: z.string().min(1).max(500),
  /** How long to wait for the host to stop answering after the command. */
  downTimeout: Duration.default('10 minutes'),
  /** How long to wait for the host to answer again. */
  upTimeout: Duration.default('30 minutes'),
  pollInterval: Duration.default('10s'),
  /** The stage the host answers in once back: dropbear for a host whose system disk waits for its passphrase. */
  comesBackIn: z.enum(['openssh', 'dropbear']).default('openssh'),
  /** Set by the parent runbook: it holds the host's lease. */
  leases: InheritedLeases.optional(),
}).strict();
export type RebootHostInput = z.input<typeof RebootHostInput>;
export type RebootHostRequest = z.output<typeof RebootHostInput>;

export const DiskReplacedAnswer = z.object({
  /** Who swapped the disk: kept in the run's record. */
  operator: z.string().min(1, { message: 'say who swapped the disk' }).max(100),
  comment: z.string().max(500).optional(),
}).strict();
export type DiskReplacedAnswer = z.infer<typeof DiskReplacedAnswer>;

/** Who approves a plan, and why: kept in the run's record. */
export const Approval = z.object({
  approver: z.string().min(1, { message: 'say who approves' }).max(100),
  comment: z.string().max(500).optional(),
}).strict();
export type Approval = z.infer<typeof Approval>;

/** A person's decision when a runbook cannot go on by itself (a host that does not come back, a guest that does not stop). */
export const Decision = z.object({
  operator: z.string().min(1, { message: 'say who decides' }).max(100),
  /** retry: try again; abort: stop the runbook here; force: the harder way (xl destroy); skip: go on without this step. */
  decision: z.enum(['retry', 'abort', 'force', 'skip']),
  comment: z.string().max(500).optional(),
}).strict().refine((d) => d.decision !== 'skip' || Boolean(d.comment?.trim()), {
  message: 'say why the step may be skipped (a comment is required with skip)',
  path: ['comment'],
});
export type Decision = z.infer<typeof Decision>;

/** A passphrase, sealed with the worker's public key by the sender: a plaintext one is refused before it reaches history. */
export const PassphraseAnswer = z.object({
  operator: z.string().min(1, { message: 'say who types the passphrase' }).max(100),
  passphrase: SealedSecret,
}).strict();
export type PassphraseAnswer = z.infer<typeof PassphraseAnswer>;

/** The planned reboot of a hypervisor ("Redémarrage planifié hyperviseur"): Proxmox node or Xen dom0. */
export const HypervisorRebootInput = z.object({
  host: HostName,
  reason: z.string().min(1, { message: 'say why the host reboots' }).max(500),
  /** After an upgrade the page asks for ~70 MB free in /boot first. */
  afterUpgrade: z.boolean().default(false),
  /** Proxmox: migrate the guests back to this node once it is back. */
  migrateBack: z.boolean().default(true),
  /** How long the host may take to answer again (dropbear or OpenSSH); past it the admins are mailed and a person decides. The page says 2–5 minutes. */
  upTimeout: Duration.default('15 minutes'),
  downTimeout: Duration.default('10 minutes'),
  pollInterval: Duration.default('10s'),
  /** How long a guest may take to shut down before a person decides (`xl shutdown -w` has no bound of its own). */
  guestShutdownTimeout: Duration.default('5 minutes'),
  approvalTimeout: Duration.default('7 days'),
  /** Cryptroot-unlock tries the host's initramfs allows. */
  unlockTries: z.number().int().min(1).max(10).default(3),
  /** Set by rollingClusterReboot for its children: the roll's one approval. Refused on a run that is not a child. */
  approvedInRoll: z.object({
    approver: z.string().min(1).max(100),
    comment: z.string().max(500).optional(),
    roll: z.string().min(1).max(300),
    /** The node's commands as the roll's plan showed them: a node whose own plan differs asks for its own approval. */
    commands: z.array(z.string().max(1000)).max(500),
  }).strict().optional(),
  /** Set by rollingClusterReboot for its children: the leases it holds for the whole roll. */
  leases: InheritedLeases.optional(),
}).strict();
export type HypervisorRebootInput = z.input<typeof HypervisorRebootInput>;
export type HypervisorRebootRequest = z.output<typeof HypervisorRebootInput>;

/** Reboot every node of a Proxmox cluster, one at a time. */
export const RollingClusterRebootInput = HypervisorRebootInput.omit({ host: true, approvedInRoll: true, leases: true }).extend({
  cluster: HostName,
}).strict();
export type RollingClusterRebootInput = z.input<typeof RollingClusterRebootInput>;

/** "Rotation de clé": add the new passphrase, test it, only then remove the old one. */
export const LuksKeyRotationInput = z.object({
  host: HostName,
  /** The LUKS device, e.g. /dev/sda5 or a /dev/mapper multipath path; by default the root volume from /etc/crypttab. */
  device: z.string().regex(/^\/dev\/[A-Za-z0-9_./-]+$/, { message: 'must be a device path such as /dev/sda5' }).optional(),
  reason: z.string().min(1).max(500).default('key rotation'),
}).strict();
export type LuksKeyRotationInput = z.input<typeof LuksKeyRotationInput>;
