/**
 * Runbook inputs, validated with zod at every edge: our CLI before it starts a run, and the workflow itself
 * as its very first step (a run started from the Temporal UI or CLI goes through the same schema), so a bad
 * input is refused with a clear message before any SSH.
 */
import { z } from 'zod';
import { Comment, DevicePath, GuestName, HostFilePath, HostName, PersonName, Reason, deferred, duration, singleLine } from './validation.js';
import { SealedSecret } from './sealed.js';
import { RequestKey } from './requests.js';

/**
 * Each duration field's bounds, checked on Temporal's own reading of the value. The floors keep out what breaks a
 * run (an approval timeout of 0 s fails at once; Temporal reads a 0 timeout as "none", an unbounded
 * schedule-to-close) and stay in seconds because the lab's hosts reboot in seconds: the suite passes 1s, 4s, 5s.
 * The ceilings keep a typo ("99999999999999999999 days") from becoming a wait nobody watches.
 */
export const Durations = {
  /**
   * Between two probes of a rebooting host (and two looks at stopping guests). At most a minute: it is the polling
   * retry policy's initialInterval, whose maximumInterval is a minute (workflows/proxies.ts), and Temporal refuses
   * a policy whose initial interval is above its maximum: the run would stall on a failing workflow task.
   */
  pollInterval: deferred(() => duration('1s', '1 minute')),
  /** Between two looks at a resync, which takes hours on real disks: a day at most still tells people something. */
  resyncPollInterval: deferred(() => duration('1s', '1 day')),
  /**
   * How long a host may take to answer again: at least two probes at the fastest poll. Up to 30 days, the wait for
   * a disk swap: a cold swap's bootTimeout (a person powers the host on again) is this timeout of its poweroff child.
   */
  upTimeout: deferred(() => duration('2s', '30 days')),
  /** How long a host may take to stop answering after its reboot command: a day is already a host that hangs. */
  downTimeout: deferred(() => duration('2s', '1 day')),
  /** How long a guest may take to shut down (`xl shutdown -w`) before a person decides. */
  guestShutdownTimeout: deferred(() => duration('2s', '1 day')),
  /** How long a plan waits for its approval: people take weekends and holidays, not months. */
  approvalTimeout: deferred(() => duration('1 minute', '30 days')),
  /** How long a host may take to come back after a cold swap (passed on as the poweroff child's upTimeout). */
  bootTimeout: deferred(() => duration('1 minute', '30 days')),
  /** Between two looks at a snapshot's fill: it fills with the origin's writes, over hours or days. */
  fillPollInterval: deferred(() => duration('1s', '1 day')),
  /** How long a snapshot's fill is watched (it ends sooner when the snapshot is removed or merged). */
  watchFor: deferred(() => duration('10s', '90 days')),
} as const;

export const ArrayName = deferred(() => z.string().regex(/^md[0-9]{1,3}$/, { message: 'must be an md array name such as "md0"' }).meta({ placeholder: 'ARRAY' }));

/** A disk named by its kernel name (sda, nvme0n1) or by its serial number. */
export const DiskRef = deferred(() => z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: 'must be a kernel disk name such as "sda" or a serial number (letters, digits, - _ .)' })
  .meta({ placeholder: 'DISK' }));

/** Set by a parent runbook for its children: the host leases it holds for them. Honoured only from the run's parent. */
export const InheritedLeases = deferred(() => z.object({
  holder: singleLine(300, 'the parent run holding the leases'),
  resources: z.array(singleLine(300, 'a leased resource such as host:dom0-a')).max(100),
}).strict());
export type InheritedLeases = z.infer<typeof InheritedLeases>;

export const DiskReplacementInput = deferred(() => z.object({
  host: HostName,
  /** Only these arrays; by default every array that uses the failed disk. */
  arrays: z.array(ArrayName).min(1).optional(),
  /** The failed disk, when mdadm cannot tell (both members still active). By default it is read from /proc/mdstat. */
  failedDisk: DiskRef.optional(),
  /** hot: the disk is swapped while the host runs. cold: the host is powered off for the swap and comes back. */
  swap: z.enum(['hot', 'cold']).default('hot'),
  /** How often the resync is looked at; the default suits real disks (hours), tests pass seconds. */
  resyncPollInterval: Durations.resyncPollInterval.default('1 minute'),
  /** How long the host may take to come back after a cold swap before the runbook gives up waiting. */
  bootTimeout: Durations.bootTimeout.default('2 hours'),
}).strict());
export type DiskReplacementInput = z.input<typeof DiskReplacementInput>;
export type DiskReplacementRequest = z.output<typeof DiskReplacementInput>;

export const RebootHostInput = deferred(() => z.object({
  host: HostName,
  /** reboot: the host comes back by itself. poweroff: a person powers it on again (e.g. after a disk swap). */
  action: z.enum(['reboot', 'poweroff']),
  reason: Reason('say why the host reboots'),
  /** How long to wait for the host to stop answering after the command. */
  downTimeout: Durations.downTimeout.default('10 minutes'),
  /** How long to wait for the host to answer again. */
  upTimeout: Durations.upTimeout.default('30 minutes'),
  pollInterval: Durations.pollInterval.default('10s'),
  /** The stage the host answers in once back: dropbear for a host whose system disk waits for its passphrase. */
  comesBackIn: z.enum(['openssh', 'dropbear']).default('openssh'),
  /** Set by the parent runbook: it holds the host's lease. */
  leases: InheritedLeases.optional(),
}).strict());
export type RebootHostInput = z.input<typeof RebootHostInput>;
export type RebootHostRequest = z.output<typeof RebootHostInput>;

export const DiskReplacedAnswer = deferred(() => z.object({
  /** Who swapped the disk: kept in the run's record. */
  by: PersonName('say who swapped the disk'),
  comment: Comment.optional(),
}).strict());
export type DiskReplacedAnswer = z.infer<typeof DiskReplacedAnswer>;

/** An `ssh-keygen -Y sign` signature as it writes it (armored base64), bounded: an ed25519 one is ~300 characters. */
export const ArmoredSignature = deferred(() => z.string().max(4000, { message: 'must be at most 4000 characters' })
  .regex(/^-----BEGIN SSH SIGNATURE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END SSH SIGNATURE-----\r?\n?$/, { message: 'must be an SSH signature as `ssh-keygen -Y sign` writes it' }));

/** A plan's `sha256:<hex>` (common/approval.ts planHash). */
export const PlanHash = deferred(() => z.string().regex(/^sha256:[0-9a-f]{64}$/, { message: 'must be a plan hash such as "sha256:<64 hex digits>"' }));

/**
 * A person approves the plan shown, and why: kept in the run's record. `signature` is their SSH signature of the
 * approval message (common/approval.ts); `plan` the plan's hash they read (an approval of another plan is refused).
 */
export const Approval = deferred(() => z.object({
  by: PersonName('say who approves'),
  comment: Comment.optional(),
  signature: ArmoredSignature.optional(),
  plan: PlanHash.optional(),
}).strict());
export type Approval = z.infer<typeof Approval>;

/** An approval that counted, as the result, `progress` and `npx runbook audit` show it. */
export const ApprovalRecord = deferred(() => z.object({
  by: PersonName('say who approved'),
  comment: Comment.optional(),
  plan: PlanHash,
  at: z.iso.datetime(),
  /** signed: verified against the person's inventory key; unsigned: where the policy allows it (mail: later). */
  how: z.enum(['signed', 'unsigned', 'mail']),
}).strict());
export type ApprovalRecord = z.infer<typeof ApprovalRecord>;

/** Who started the run ($USER for our CLI): they may not approve it. */
const RequestedBy = deferred(() => PersonName('say who starts the run').optional());

/** A person's decision when a runbook cannot go on by itself (a host that does not come back, a guest that does not stop). */
export const Decision = deferred(() => z.object({
  by: PersonName('say who decides'),
  /** retry: try again; abort: stop the runbook here; force: the harder way (xl destroy); skip: go on without this step. */
  decision: z.enum(['retry', 'abort', 'force', 'skip']),
  comment: Comment.optional(),
}).strict().refine((d) => d.decision !== 'skip' || Boolean(d.comment?.trim()), {
  message: 'say why the step may be skipped (a comment is required with skip)',
  path: ['comment'],
}));
export type Decision = z.infer<typeof Decision>;

/** A passphrase, sealed with the worker's public key by the sender: a plaintext one is refused before it reaches history. */
export const PassphraseAnswer = deferred(() => z.object({
  by: PersonName('say who types the passphrase'),
  passphrase: SealedSecret,
}).strict());
export type PassphraseAnswer = z.infer<typeof PassphraseAnswer>;

/** The planned reboot of a hypervisor ("Redémarrage planifié hyperviseur"): Proxmox node or Xen dom0. */
export const HypervisorRebootInput = deferred(() => z.object({
  host: HostName,
  reason: Reason('say why the host reboots'),
  /** After an upgrade the page asks for ~70 MB free in /boot first. */
  afterUpgrade: z.boolean().default(false),
  /** Proxmox: migrate the guests back to this node once it is back. */
  migrateBack: z.boolean().default(true),
  /** How long the host may take to answer again (dropbear or OpenSSH); past it the admins are mailed and a person decides. The page says 2–5 minutes. */
  upTimeout: Durations.upTimeout.default('15 minutes'),
  downTimeout: Durations.downTimeout.default('10 minutes'),
  pollInterval: Durations.pollInterval.default('10s'),
  /** How long a guest may take to shut down before a person decides (`xl shutdown -w` has no bound of its own). */
  guestShutdownTimeout: Durations.guestShutdownTimeout.default('5 minutes'),
  /** How long the plan waits for its approvals; by default the inventory policy's expireAfter. */
  approvalTimeout: Durations.approvalTimeout.optional(),
  /** When the approvers are reminded, and when the policy's second group is mailed; by default the policy's. */
  approvalRemindAfter: Durations.approvalTimeout.optional(),
  approvalEscalateAfter: Durations.approvalTimeout.optional(),
  /** Who starts the run (our CLI: $USER): never one of its approvers. */
  requestedBy: RequestedBy,
  /** Cryptroot-unlock tries the host's initramfs allows. */
  unlockTries: z.number().int().min(1).max(10).default(3),
  /** Set by rollingClusterReboot for its children: the roll's one approval. Refused on a run that is not a child. */
  approvedInRoll: z.object({
    approvals: z.array(ApprovalRecord).min(1).max(10),
    roll: singleLine(300, 'name the roll'),
    /** The node's commands as the roll's plan showed them: a node whose own plan differs asks for its own approval. */
    commands: z.array(z.string().max(1000)).max(500),
  }).strict().optional(),
  /** Set by rollingClusterReboot for its children: the leases it holds for the whole roll. */
  leases: InheritedLeases.optional(),
}).strict());
export type HypervisorRebootInput = z.input<typeof HypervisorRebootInput>;
export type HypervisorRebootRequest = z.output<typeof HypervisorRebootInput>;

/** Reboot every node of a Proxmox cluster, one at a time. */
export const RollingClusterRebootInput = deferred(() => HypervisorRebootInput.omit({ host: true, approvedInRoll: true, leases: true }).extend({
  cluster: HostName,
  /** Shorter than a node's: each child's reason is this one plus "(rolling reboot of <cluster>, node i of n)". */
  reason: singleLine(400, 'say why the nodes reboot'),
}).strict());
export type RollingClusterRebootInput = z.input<typeof RollingClusterRebootInput>;

/** "Démonter notre cluster Proxmox": take one node out of its cluster (its guests moved to the others first). */
export const NodeSeparationInput = deferred(() => z.object({
  host: HostName,
  reason: Reason('say why the node leaves the cluster'),
  /** Between two looks at the remaining cluster's quorum at the end, and how long it may take to settle. */
  pollInterval: Durations.pollInterval.default('10s'),
  upTimeout: Durations.upTimeout.default('5 minutes'),
  /** How long an OSD marked out may take to shed its data (ceph osd safe-to-destroy) before a person decides. */
  osdDrainTimeout: Durations.upTimeout.default('2 days'),
  /** How long the plan waits for its approvals; by default the inventory policy's expireAfter. */
  approvalTimeout: Durations.approvalTimeout.optional(),
  approvalRemindAfter: Durations.approvalTimeout.optional(),
  approvalEscalateAfter: Durations.approvalTimeout.optional(),
  /** Who starts the run (our CLI: $USER): never one of its approvers. */
  requestedBy: RequestedBy,
}).strict());
export type NodeSeparationInput = z.input<typeof NodeSeparationInput>;

/** "Démonter notre cluster Proxmox", for every node: the whole cluster (its Ceph, its QDevice) down to standalone nodes. */
export const ClusterTeardownInput = deferred(() => NodeSeparationInput.omit({ host: true }).extend({
  cluster: HostName,
  reason: Reason('say why the cluster is taken apart'),
}).strict());
export type ClusterTeardownInput = z.input<typeof ClusterTeardownInput>;

/** "Rotation de clé": add the new passphrase, test it, only then remove the old one. */
export const LuksKeyRotationInput = deferred(() => z.object({
  host: HostName,
  /** The LUKS device, e.g. /dev/sda5 or a /dev/mapper multipath path; by default the root volume from /etc/crypttab. */
  device: DevicePath.optional(),
  reason: Reason('say why the key rotates').default('key rotation'),
}).strict());
export type LuksKeyRotationInput = z.input<typeof LuksKeyRotationInput>;

/** An LVM volume group or logical volume name: LVM's characters, never "." or ".." nor a leading "-". */
const lvmName = (example: string) => z.string().regex(/^(?!\.\.?$)[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/, {
  message: `must be an LVM name such as "${example}" (letters, digits, + _ . -, not starting with -)`,
});
export const VolumeGroupName = deferred(() => lvmName('vg0').meta({ placeholder: 'VG' }));
export const VolumeName = deferred(() => lvmName('guest1_root').meta({ placeholder: 'LV' }));

/** A size as people write it for LVM: a whole number of MiB, GiB or TiB ("2G"). */
export const LvmSize = (what: string) => z.string()
  .max(12, { message: 'must be a size such as "2G"', abort: true })
  .refine((s) => !s.trim().startsWith('-'), { message: `shrinking is refused: ${what} is a size to add such as "2G"`, abort: true })
  .regex(/^[1-9][0-9]{0,6}[MGT]$/, { message: 'must be a whole number of M, G or T such as "2G" or "512M"' })
  .meta({ placeholder: 'SIZE' });

/** Bytes of an LvmSize ("2G" → 2147483648). */
export function lvmSizeBytes(size: string): number {
  const unit = { M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[size.slice(-1) as 'M' | 'G' | 'T'];
  return Number(size.slice(0, -1)) * unit;
}

/** "Extension de la taille d'une partition de VM": grow a Xen guest's LV and its filesystem. */
export const VmDiskResizeInput = deferred(() => z.object({
  host: HostName,
  guest: GuestName,
  /** The guest's logical volume, e.g. guest1_root. */
  volume: VolumeName,
  vg: VolumeGroupName.default('vg0'),
  /** What to add, e.g. "2G": never a shrink. */
  add: LvmSize('add'),
  reason: Reason('say why the disk grows').default('the guest needs more space'),
  guestShutdownTimeout: Durations.guestShutdownTimeout.default('5 minutes'),
  pollInterval: Durations.pollInterval.default('10s'),
  approvalTimeout: Durations.approvalTimeout.default('7 days'),
}).strict());
export type VmDiskResizeInput = z.input<typeof VmDiskResizeInput>;

/** "Snapshot d'une VM", the backup: `dd if=SNAP bs=1M | bzip2 -9 > FILE` as a detached job. */
export const VmBackupInput = deferred(() => z.object({
  host: HostName,
  vg: VolumeGroupName.default('vg0'),
  /** The snapshot to copy (vmSnapshot takes it); never a running guest's own volume. */
  snapshot: VolumeName,
  /** The compressed image, on a filesystem of the host that is writable (the page's dom0 root is read-only). */
  file: HostFilePath,
  /** Remove the snapshot once it is copied (lvremove). */
  removeSnapshot: z.boolean().default(false),
  /** How often the job's progress is read. */
  pollInterval: Durations.pollInterval.default('30s'),
  approvalTimeout: Durations.approvalTimeout.default('7 days'),
}).strict());
export type VmBackupInput = z.input<typeof VmBackupInput>;

/** "Snapshot d'une VM": `lvcreate -L SIZE -s -n NAME ORIGIN`, the guest stopped first unless told otherwise. */
export const VmSnapshotInput = deferred(() => z.object({
  host: HostName,
  guest: GuestName,
  vg: VolumeGroupName.default('vg0'),
  volume: VolumeName,
  /** The snapshot's name; by default VOLUME_snap1 as on the page. */
  name: VolumeName.optional(),
  /** The page's size rule: small (1G) before a risky configuration change, as large as the volume before a major upgrade. */
  purpose: z.enum(['config-change', 'major-upgrade']),
  /** The page's author was unsure a running guest's snapshot is reliable: stopped by default, started again after. */
  stopGuest: z.boolean().default(true),
  /** Mail the admins once the snapshot is this full (percent); a full snapshot is invalid. */
  fillThreshold: z.number().int().min(1).max(99).default(80),
  fillPollInterval: Durations.fillPollInterval.default('15 minutes'),
  watchFor: Durations.watchFor.default('14 days'),
  guestShutdownTimeout: Durations.guestShutdownTimeout.default('5 minutes'),
  pollInterval: Durations.pollInterval.default('10s'),
  approvalTimeout: Durations.approvalTimeout.default('7 days'),
}).strict());
export type VmSnapshotInput = z.input<typeof VmSnapshotInput>;

/**
 * The fill watch of one LVM snapshot (workflows/snapshotWatch.ts), started by vmSnapshot, not by people. `seen`
 * is what the previous run saw, carried over continue-as-new.
 */
export const SnapshotWatchInput = deferred(() => z.object({
  host: HostName,
  guest: GuestName,
  vg: VolumeGroupName,
  volume: VolumeName,
  snapshot: VolumeName,
  fillThreshold: z.number().int().min(1).max(99),
  fillPollInterval: Durations.fillPollInterval,
  /** When the watch ends even if the snapshot still exists. */
  until: z.iso.datetime(),
  /** Polls before the history is carried over into a new run. */
  pollsPerRun: z.number().int().min(1).max(10_000).default(500),
  seen: z.object({
    highestPercent: z.number(),
    polls: z.number().int(),
    mailed: z.array(z.object({ level: z.number(), percent: z.number() })),
  }).optional(),
}).strict());
export type SnapshotWatchInput = z.input<typeof SnapshotWatchInput>;

/** Restore a guest's volume from its snapshot (`lvconvert --merge`) or from a backup file (`bunzip2 -c FILE | dd of=LV`). */
export const VmRestoreInput = deferred(() => z.object({
  host: HostName,
  guest: GuestName,
  vg: VolumeGroupName.default('vg0'),
  volume: VolumeName,
  from: z.enum(['snapshot', 'file']),
  snapshot: VolumeName.optional(),
  file: HostFilePath.optional(),
  guestShutdownTimeout: Durations.guestShutdownTimeout.default('5 minutes'),
  pollInterval: Durations.pollInterval.default('30s'),
  approvalTimeout: Durations.approvalTimeout.default('7 days'),
}).strict().superRefine((r, ctx) => {
  if (r.from === 'snapshot' && !r.snapshot) ctx.addIssue({ code: 'custom', path: ['snapshot'], message: 'name the snapshot to merge back (from: snapshot)' });
  if (r.from === 'file' && !r.file) ctx.addIssue({ code: 'custom', path: ['file'], message: 'name the backup file to restore (from: file)' });
}));
export type VmRestoreInput = z.input<typeof VmRestoreInput>;

/** Proxmox VM snapshots (`qm snapshot|rollback|delsnapshot`), only where the storage takes them. */
export const ProxmoxSnapshotInput = deferred(() => z.object({
  /** The node that runs the VM. */
  host: HostName,
  vmid: z.number().int().min(100).max(999_999_999),
  action: z.enum(['snapshot', 'rollback', 'delete']),
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{1,39}$/, { message: 'must be a snapshot name: a letter, then letters, digits, - or _ (2 to 40)' }).meta({ placeholder: 'NAME' }),
  description: singleLine(200).default(''),
  approvalTimeout: Durations.approvalTimeout.default('7 days'),
}).strict());
export type ProxmoxSnapshotInput = z.input<typeof ProxmoxSnapshotInput>;

/** "Pour configurer les hyperviseurs" (Ganeti): the members' group and its `Match group` block in sshd_config. */
export const GanetiHypervisorSetupInput = deferred(() => z.object({
  host: HostName,
  group: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, { message: 'must be a Unix group name such as "ref-host-vm"' }).default('ref-host-vm'),
  approvalTimeout: Durations.approvalTimeout.default('7 days'),
}).strict());
export type GanetiHypervisorSetupInput = z.input<typeof GanetiHypervisorSetupInput>;

/** The member says the install is done (or an admin for them): the VM then boots from its disk. */
export const InstallDoneAnswer = deferred(() => z.object({
  by: PersonName('say who says the install is done (the member or an admin)'),
  comment: Comment.optional(),
  /** Set when the mail intake delivers the member's reply: the run checks it is its own member's address. */
  mailFrom: z.email({ message: 'must be the reply\'s sender address' }).optional(),
}).strict());
export type InstallDoneAnswer = z.infer<typeof InstallDoneAnswer>;

/**
 * A member's VM on the members' cluster (ganeti-member-vm-onboarding.txt): from the mail intake (vmRequest hands its
 * verdict on) or started by hand. The key line is judged again by the run (as the intake does), the member must be
 * in the inventory.
 */
export const VmOnboardingInput = deferred(() => z.object({
  /** The member's address, as in the inventory's people. */
  member: z.email({ message: 'must be the member\'s mail address, as in the inventory' }).meta({ placeholder: 'MEMBER@EXAMPLE.NET' }),
  /** Their SSH public key line (the .pub file's content): bare (no options), judged again by the run (type, size). */
  sshKey: RequestKey.shape.line.meta({ placeholder: 'KEY' }),
  /** Which platform serves members is the inventory's (memberVms.platform); given here, it must be that one. */
  platform: z.enum(['ganeti', 'proxmox']).optional(),
  /** Ganeti's page: `-s 10G`; Proxmox's "configuration de base": 20 Go. */
  diskGiB: z.number().int().min(1).max(2000).optional(),
  /** Proxmox only ("1 Go de RAM, 1 vCPU" by default); Ganeti takes the cluster's instance defaults. */
  memoryMiB: z.number().int().min(256).max(1_048_576).optional(),
  cores: z.number().int().min(1).max(64).optional(),
  /** Proxmox only: a storage class the inventory offers members (memberVms.proxmox.storages; the first by default). */
  storage: z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/, { message: 'must be a Proxmox storage id such as lvmthin_luks_local' }).optional(),
  /** The guest OS (the page's debootstrap+default: the installer ISO comes with it). */
  os: z.string().regex(/^[a-z0-9][a-z0-9_.+-]{0,63}$/, { message: 'must be a Ganeti OS name such as debootstrap+default' }).default('debootstrap+default'),
  /** The request mail, when the run comes from the intake: its Message-ID (replies stay in its thread) and the checks' verdict. */
  request: z.object({ messageId: singleLine(201), verdict: singleLine(400) }).strict().optional(),
  requestedBy: RequestedBy,
  approvalTimeout: Durations.approvalTimeout.optional(),
  /** While the install is not said done: a reminder to the member this often, the admins mailed after escalateAfter. */
  remindAfter: duration('1 minute', '90 days').default('7 days'),
  escalateAfter: duration('1 minute', '365 days').default('30 days'),
}).strict());
export type VmOnboardingInput = z.input<typeof VmOnboardingInput>;

/** "La migration d'une VM": a member's instance (REF-HOST-VM-N or its full name) live-migrated to another node. */
export const VmMigrationInput = deferred(() => z.object({
  instance: z.string().regex(/^(REF-HOST-VM-[0-9]{1,6}|ref-host-vm-[0-9]{1,6}(\.[a-z0-9-]{1,63})*)$/, { message: 'must be a member\'s reference such as "REF-HOST-VM-7" or its instance name such as "ref-host-vm-7.faimaison.net"' }).meta({ placeholder: 'REF-HOST-VM-N' }),
  /** The page's $NEW_NODE. */
  targetNode: HostName,
  reason: Reason('say why the VM moves'),
  requestedBy: RequestedBy,
  approvalTimeout: Durations.approvalTimeout.optional(),
}).strict());
export type VmMigrationInput = z.input<typeof VmMigrationInput>;
