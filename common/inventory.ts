/**
 * The inventory: which hosts exist, how to reach them, and the host keys we trust for each boot stage.
 * Loaded from RUNBOOK_INVENTORY (JSON) and validated with zod; a bad file names the bad field.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { HostName, describeIssues } from './validation.js';

export { HostName, describeIssues };

/** A boot stage of a host: the running system (OpenSSH) or the initramfs waiting for its LUKS passphrase (dropbear). */
export const BootStage = z.enum(['openssh', 'dropbear']);
export type BootStage = z.infer<typeof BootStage>;

/** An OpenSSH public key line as `ssh-keyscan` or `/etc/ssh/ssh_host_ed25519_key.pub` prints it. */
const PublicKeyLine = z
  .string()
  .trim()
  .regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+=*( .*)?$/, {
    message: 'must be a public key line such as "ssh-ed25519 AAAAC3Nz... comment"',
  });

export const HostKind = z.enum(['xen-dom0', 'proxmox-node', 'ganeti-master', 'ganeti-node', 'dns', 'other']);

/**
 * A Xen guest and the guests it depends on (its firewall, DNS, NFS server...): before a dom0 reboot a guest
 * stops only after every guest that depends on it has stopped, and starts again only after its dependencies.
 */
export const Guest = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: 'must be a Xen domain name (letters, digits, - _ .)' }),
  /** The xl configuration it starts from; by default /etc/xen/<name>.cfg. */
  config: z.string().regex(/^\/[A-Za-z0-9_./-]+$/, { message: 'must be an absolute path' }).optional(),
  dependsOn: z.array(z.string()).default([]),
}).strict();
export type Guest = z.infer<typeof Guest>;

export const Host = z.object({
  name: HostName,
  address: z.union([z.ipv4(), z.ipv6(), z.hostname()], { message: 'must be an IP address or a DNS name' }),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, { message: 'must be a Unix user name' }).default('root'),
  kind: HostKind,
  /** Pinned host keys, one per boot stage: OpenSSH and dropbear never share a key. */
  hostKeys: z.object({ openssh: PublicKeyLine, dropbear: PublicKeyLine.optional() }).strict(),
  /** Free text for people: where the machine is, which slots its disks are in. */
  location: z.string().optional(),
  /** Xen dom0 only: its guests and their dependencies, for the ordered shutdown before a reboot. */
  guests: z.array(Guest).optional(),
}).strict();
export type Host = z.infer<typeof Host>;

export const Cluster = z.object({
  name: HostName,
  kind: z.enum(['proxmox', 'ganeti', 'xen']),
  hosts: z.array(HostName).min(1),
}).strict();

export const Mail = z.object({
  host: z.string(),
  port: z.number().int().min(1).max(65535),
  secure: z.boolean().default(false),
  from: z.email(),
  admins: z.array(z.email()).default([]),
  auth: z.object({ user: z.string(), passFile: z.string() }).strict().optional(),
}).strict();

export const Inventory = z.object({
  /** True for the lab's own inventory: everything says loudly that the hosts are simulated. */
  simulated: z.boolean().default(false),
  ssh: z.object({
    /** Path of the private key the worker logs in with. The key is read by the worker only; it never enters workflow history. */
    privateKeyPath: z.string().min(1),
  }).strict(),
  hosts: z.array(Host).min(1),
  clusters: z.array(Cluster).default([]),
  mail: Mail.optional(),
}).strict().superRefine((inventory, ctx) => {
  const names = new Set<string>();
  inventory.hosts.forEach((host, i) => {
    if (names.has(host.name)) ctx.addIssue({ code: 'custom', path: ['hosts', i, 'name'], message: `host "${host.name}" is listed twice` });
    names.add(host.name);
  });
  inventory.clusters.forEach((cluster, i) => cluster.hosts.forEach((name, j) => {
    if (!names.has(name)) ctx.addIssue({ code: 'custom', path: ['clusters', i, 'hosts', j], message: `unknown host "${name}"` });
  }));
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

/** The inventory file named by RUNBOOK_INVENTORY (common/settings.ts). */
export function loadInventory(path: string | undefined): Inventory {
  if (!path) throw new InventoryError('RUNBOOK_INVENTORY is not set: name the inventory JSON file (see README, "Inventory").');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new InventoryError(`cannot read inventory ${path}: ${(error as Error).message}`);
  }
  return parseInventory(raw, path);
}

export function findHost(inventory: Inventory, name: string): Host | undefined {
  return inventory.hosts.find((host) => host.name === name);
}
