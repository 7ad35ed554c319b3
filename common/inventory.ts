/**
 * The inventory: which hosts exist, how to reach them, and the host keys we trust for each boot stage.
 * Loaded from RUNBOOK_INVENTORY (JSON) and validated with zod; a bad file names the bad field.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { z } from 'zod';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { GuestName, HostFilePath, HostName, MemberRef, PersonName, describeIssues, duration, singleLine } from './validation.js';

export { HostName, describeIssues };

/** A boot stage of a host: the running system (OpenSSH) or the initramfs waiting for its LUKS passphrase (dropbear). */
export const BootStage = z.enum(['openssh', 'dropbear']);
export type BootStage = z.infer<typeof BootStage>;

/** An OpenSSH public key line as `ssh-keyscan` or `/etc/ssh/ssh_host_ed25519_key.pub` prints it. */
const PublicKeyLine = z
  .string()
  .max(16_384, { message: 'must be at most 16384 characters' })
  .trim()
  .regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+=*( [\x20-\x7e]*)?$/, {
    message: 'must be a public key line such as "ssh-ed25519 AAAAC3Nz... comment"',
  });

export const HostKind = z.enum(['xen-dom0', 'proxmox-node', 'ganeti-master', 'ganeti-node', 'dns', 'other']);

/**
 * A Xen guest and the guests it depends on (its firewall, DNS, NFS server...): before a dom0 reboot a guest
 * stops only after every guest that depends on it has stopped, and starts again only after its dependencies.
 */

export const Guest = z.object({
  name: GuestName,
  /** The xl configuration it starts from; by default /etc/xen/<name>.cfg. */
  config: HostFilePath.optional(),
  dependsOn: z.array(GuestName).max(256).default([]),
}).strict();
export type Guest = z.infer<typeof Guest>;

export const Host = z.object({
  name: HostName,
  address: z.union([z.ipv4(), z.ipv6(), z.hostname()], { message: 'must be an IP address or a DNS name' }),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, { message: 'must be a Unix user name' }).default('root'),
  kind: HostKind,
  /** Pinned host keys, one per boot stage: OpenSSH and dropbear never share a key. */
  hostKeys: z.object({ openssh: PublicKeyLine, dropbear: PublicKeyLine.optional() }).strict(),
  /** Free text for people: where the machine is, which slots its disks are in. */
  location: singleLine(300).optional(),
  /** Xen dom0 only: its guests and their dependencies, for the ordered shutdown before a reboot. */
  guests: z.array(Guest).max(1000).optional(),
}).strict();
export type Host = z.infer<typeof Host>;

export const Cluster = z.object({
  name: HostName,
  kind: z.enum(['proxmox', 'ganeti', 'xen']),
  hosts: z.array(HostName).min(1).max(1000),
}).strict();

/** A file on the worker's machine (a key, a password file): any path, one line of printable text. */
const LocalPath = singleLine(4096, 'name the file');

const ServerAddress = z.union([z.ipv4(), z.ipv6(), z.hostname()], { message: 'must be an IP address or a DNS name' });
const Port = z.number().int().min(1).max(65535);
/** An IMAP folder name: printable ASCII, no wildcard or hierarchy tricks. */
const Folder = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/, { message: 'must be a folder name such as INBOX or Processed' });

/** The request mailbox (bureau@): read over IMAP by the mail intake (workflows/mailIntake.ts). */
export const Imap = z.object({
  host: ServerAddress,
  port: Port.default(143),
  /** Implicit TLS (IMAPS); without it STARTTLS is required off loopback. */
  tls: z.boolean().default(false),
  user: singleLine(256, 'name the IMAP user'),
  passFile: LocalPath,
  folder: Folder.default('INBOX'),
  /** Where a request goes once its run exists (created if missing). */
  doneFolder: Folder.default('Processed'),
}).strict();
export type Imap = z.infer<typeof Imap>;

export const Mail = z.object({
  host: ServerAddress,
  port: Port,
  secure: z.boolean().default(false),
  from: z.email(),
  admins: z.array(z.email()).max(100).default([]),
  auth: z.object({ user: singleLine(256, 'name the SMTP user'), passFile: LocalPath }).strict().optional(),
  /**
   * The address members write their requests to (the page's bureau@), its mailbox, and the DNS resolver the
   * mail checks (DKIM, SPF, DMARC) ask: the system's when not given; the lab's points at its own zone.
   */
  requests: z.object({
    address: z.email(),
    imap: Imap,
    resolver: z.object({ server: z.union([z.ipv4(), z.ipv6()], { message: 'must be an IP address' }), port: Port.default(53) }).strict().optional(),
  }).strict().optional(),
}).strict();

/** The DNS zone the runbooks change by RFC 2136 updates signed with a TSIG key (BIND, Knot, PowerDNS). */
export const Dns = z.object({
  server: z.union([z.ipv4(), z.ipv6()], { message: 'must be an IP address' }),
  port: Port.default(53),
  zone: z.hostname({ message: 'must be a DNS zone such as example.net' }),
  /** knsupdate/nsupdate `-k` file: `algorithm:name:base64secret`, read by the worker only. */
  tsigKeyFile: LocalPath,
}).strict();
export type Dns = z.infer<typeof Dns>;

/** A role people hold, e.g. board, admin: approval policies name roles, not people. */
const Role = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, { message: 'must be a role name such as "board" or "admin"' });

/**
 * A person the runbooks know: a member (role `member`: may ask for a VM by mail), a board member, an admin. For
 * people who answer runbooks: the name they approve with (`npx runbook approve ID --by NAME`), the address
 * their reminders go to (and, later, approvals by mail come from), their roles, and the SSH key that signs their
 * approvals (ssh-ed25519).
 */
export const Person = z.object({
  name: PersonName('name the person'),
  email: z.email({ message: 'must be a mail address' }),
  roles: z.array(Role).min(1, { message: 'give the person at least one role' }).max(20),
  sshKey: PublicKeyLine.refine((line) => line.startsWith('ssh-ed25519 '), { message: 'must be an ssh-ed25519 key: it signs approvals' }).optional(),
  /** A member's reference (REF-HOST-VM-N), once they have a VM. */
  ref: MemberRef.optional(),
}).strict();
export type Person = z.infer<typeof Person>;

/** Bounds of the approval waits: a reminder after minutes at the earliest, nothing pending for more than 30 days. */
const ApprovalDuration = duration('1 minute', '30 days');

/**
 * Who approves a runbook's plan, how many of them, and how a pending approval escalates. Without `roles` anyone
 * may approve by name (the lab, a small team); with them only the inventory's people holding one of them.
 */
export const ApprovalPolicy = z.object({
  roles: z.array(Role).min(1).max(20).optional(),
  /** Distinct approvers needed: never the same person twice, never the one who started the run. */
  count: z.number().int().min(1).max(10).default(1),
  /** required: only approvals signed with the person's inventory key count. optional: unsigned ones count, recorded as such. */
  signature: z.enum(['required', 'optional']).default('optional'),
  /** Mail the approvers a reminder after this long without enough approvals. */
  remindAfter: ApprovalDuration.optional(),
  /** Then mail this second group (people holding these roles), after this long. */
  escalateTo: z.object({ roles: z.array(Role).min(1).max(20), after: ApprovalDuration }).strict().optional(),
  /** Then the plan expires, nothing changed (a runbook's approvalTimeout input overrides it). */
  expireAfter: ApprovalDuration.default('7 days'),
}).strict().superRefine((p, ctx) => {
  const at = (d?: string) => (d === undefined ? undefined : msToNumber(d as never));
  const [remind, escalate, expire] = [at(p.remindAfter), at(p.escalateTo?.after), at(p.expireAfter)!];
  if (remind !== undefined && remind >= expire) ctx.addIssue({ code: 'custom', path: ['remindAfter'], message: 'must be shorter than expireAfter' });
  if (escalate !== undefined && escalate >= expire) ctx.addIssue({ code: 'custom', path: ['escalateTo', 'after'], message: 'must be shorter than expireAfter' });
  if (escalate !== undefined && remind !== undefined && escalate <= remind) ctx.addIssue({ code: 'custom', path: ['escalateTo', 'after'], message: 'must be longer than remindAfter' });
});
export type ApprovalPolicy = z.infer<typeof ApprovalPolicy>;

/** A Proxmox storage id, as in /etc/pve/storage.cfg. */
const StorageId = z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/, { message: 'must be a Proxmox storage id such as lvm_noluks_shared' });

/**
 * Members' VMs on Proxmox (proxmox-faimaison-vm-creation-and-planned-reboot.txt, "Création de VMs"): the members'
 * bridge ("Les VMs adhérents seront rattachées au pont vmbr3"), the storage classes a member may choose (the first is
 * the default: "partagé, non chiffré" for HA), and the installer ISO the VM boots first.
 */
export const ProxmoxMemberVms = z.object({
  bridge: z.string().regex(/^vmbr[0-9]{1,4}$/, { message: 'must be a Proxmox bridge such as vmbr3' }).default('vmbr3'),
  storages: z.array(StorageId).min(1).max(20).default(['lvm_noluks_shared', 'lvmthin_luks_local']),
  iso: z.string().regex(/^[a-z][a-z0-9_-]{0,39}:iso\/[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.iso$/, { message: 'must be an ISO volume such as local:iso/debian-12-netinst.iso' }),
}).strict();
export type ProxmoxMemberVms = z.infer<typeof ProxmoxMemberVms>;

/**
 * The members' VMs (ganeti-member-vm-onboarding.txt, or the Proxmox page): which cluster serves them, the subnet
 * their addresses come from (the page's "sous-réseau dédié aux VM", the wiki's address plan) and the addresses never
 * to hand out there (gateway, hypervisors, the association's own VMs).
 */
export const MemberVms = z.object({
  platform: z.enum(['ganeti', 'proxmox']).default('ganeti'),
  cluster: HostName,
  network: z.cidrv4({ message: 'must be an IPv4 network such as 89.234.176.128/27' }),
  reserved: z.array(z.ipv4({ message: 'must be an IPv4 address' })).max(1000).default([]),
  /** Required when the platform is proxmox. */
  proxmox: ProxmoxMemberVms.optional(),
}).strict().refine((m) => m.platform !== 'proxmox' || m.proxmox, { path: ['proxmox'], message: 'is required when the platform is proxmox (bridge, storages, iso)' });
export type MemberVms = z.infer<typeof MemberVms>;

const RunbookName = z.string().regex(/^[a-zA-Z][a-zA-Z0-9]{0,63}$/, { message: 'must be a runbook (workflow type) name such as "hypervisorReboot"' });

export const Inventory = z.object({
  /** True for the lab's own inventory: everything says loudly that the hosts are simulated. */
  simulated: z.boolean().default(false),
  ssh: z.object({
    /** Path of the private key the worker logs in with. The key is read by the worker only; it never enters workflow history. */
    privateKeyPath: LocalPath,
  }).strict(),
  hosts: z.array(Host).min(1).max(1000),
  clusters: z.array(Cluster).max(1000).default([]),
  mail: Mail.optional(),
  /** Who may answer runbooks; approval policies name their roles. */
  people: z.array(Person).max(1000).default([]),
  /** The approval policy of every runbook (`default`), and per runbook (by workflow type) where it differs. */
  approvals: z.object({
    default: ApprovalPolicy.optional(),
    runbooks: z.record(RunbookName, ApprovalPolicy).default({}),
  }).strict().default({ runbooks: {} }),
  dns: Dns.optional(),
  memberVms: MemberVms.optional(),
}).strict().superRefine((inventory, ctx) => {
  const names = new Set<string>();
  inventory.hosts.forEach((host, i) => {
    if (names.has(host.name)) ctx.addIssue({ code: 'custom', path: ['hosts', i, 'name'], message: `host "${host.name}" is listed twice` });
    names.add(host.name);
  });
  inventory.clusters.forEach((cluster, i) => cluster.hosts.forEach((name, j) => {
    if (!names.has(name)) ctx.addIssue({ code: 'custom', path: ['clusters', i, 'hosts', j], message: `unknown host "${name}"` });
  }));
  const served = inventory.memberVms?.cluster;
  const servedBy = inventory.clusters.find((c) => c.name === served);
  if (served && !servedBy) ctx.addIssue({ code: 'custom', path: ['memberVms', 'cluster'], message: `unknown cluster "${served}"` });
  if (servedBy && servedBy.kind !== inventory.memberVms!.platform) ctx.addIssue({ code: 'custom', path: ['memberVms', 'platform'], message: `is ${inventory.memberVms!.platform} but cluster "${served}" is a ${servedBy.kind} cluster` });
  const people = new Set<string>();
  inventory.people.forEach((person, i) => {
    if (people.has(person.name)) ctx.addIssue({ code: 'custom', path: ['people', i, 'name'], message: `person "${person.name}" is listed twice` });
    people.add(person.name);
  });
  // A policy nobody can satisfy is a typo: refuse it now, not when a plan waits for approvers that do not exist.
  const policies = [['default', inventory.approvals.default] as const, ...Object.entries(inventory.approvals.runbooks).map(([n, p]) => [n, p] as const)];
  for (const [name, policy] of policies) {
    const path = name === 'default' ? ['approvals', 'default'] : ['approvals', 'runbooks', name];
    if (policy?.signature === 'required' && !policy.roles) ctx.addIssue({ code: 'custom', path: [...path, 'roles'], message: 'name the roles whose people sign: a required signature is checked against their keys' });
    if (!policy?.roles) continue;
    const able = inventory.people.filter((p) => p.roles.some((r) => policy.roles!.includes(r)) && (policy.signature === 'optional' || p.sshKey));
    if (able.length < policy.count) {
      ctx.addIssue({ code: 'custom', path: [...path, 'count'], message: `${policy.count} approvals needed but only ${able.length} ${able.length === 1 ? 'person holds' : 'people hold'} one of the roles ${policy.roles.join(', ')}${policy.signature === 'required' ? ' with an ssh-ed25519 key' : ''}` });
    }
  }
});
export type Inventory = z.infer<typeof Inventory>;

export class InventoryError extends Error {
  override name = 'InventoryError';
}

export function parseInventory(raw: unknown, source = 'inventory'): Inventory {
  const parsed = Inventory.safeParse(raw);
  if (!parsed.success) throw new InventoryError(`${source} is invalid:\n${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Far above a real inventory (a few KB per host): a bigger file is the wrong file. */
export const MAX_INVENTORY_BYTES = 4 * 1024 * 1024;

/**
 * The inventory file named by RUNBOOK_INVENTORY (common/settings.ts). Its errors never quote the file: a wrong
 * path may name a key or a password file.
 */
export function loadInventory(path: string | undefined): Inventory {
  if (!path) throw new InventoryError('RUNBOOK_INVENTORY is not set: name the inventory JSON file (see README, "Inventory").');
  const text = readBounded(path);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const at = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new InventoryError(`inventory ${path} is not JSON${at ? ` (error at character ${at})` : ''}`);
  }
  return parseInventory(raw, path);
}

function readBounded(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new InventoryError(`cannot read inventory ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new InventoryError(`inventory ${path} is not a file`);
    if (stat.size > MAX_INVENTORY_BYTES) throw new InventoryError(`inventory ${path} is larger than ${MAX_INVENTORY_BYTES} bytes`);
    const buffer = Buffer.alloc(stat.size);
    const read = readSync(fd, buffer, 0, stat.size, 0);
    return buffer.subarray(0, read).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The approval policy of `runbook` (a workflow type): its own, else the inventory's default, else one unsigned approval by anyone. */
export function approvalPolicyOf(inventory: Inventory, runbook: string): ApprovalPolicy {
  return inventory.approvals.runbooks[runbook] ?? inventory.approvals.default ?? ApprovalPolicy.parse({});
}

/** The people holding one of `roles`. */
export function peopleWith(inventory: Inventory, roles: readonly string[]): Person[] {
  return inventory.people.filter((p) => p.roles.some((r) => roles.includes(r)));
}

export function findHost(inventory: Inventory, name: string): Host | undefined {
  return inventory.hosts.find((host) => host.name === name);
}
