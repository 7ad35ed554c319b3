/**
 * All activities, built over one SSH pool per worker. Workflows import the *type* only.
 */
import { readFileSync } from 'node:fs';
import { findHost, type Guest, type Inventory } from '../common/inventory.js';
import { SshPool } from './ssh/pool.js';
import { remoteShell } from './ssh/remote.js';
import { raidActivities } from './raid/activities.js';
import { dnsActivities } from './dns.js';
import { hostActivities } from './host.js';
import { intakeActivities } from './intake.js';
import { leaseActivities } from './leases.js';
import { luksActivities } from './luks.js';
import { mailActivities } from './mail.js';
import { proxmoxActivities } from './proxmox.js';
import { xenActivities } from './xen.js';
import { failure } from '../common/failures.js';

export function createActivities(inventory: Inventory, pool = new SshPool({ privateKey: readFileSync(inventory.ssh.privateKeyPath) })) {
  const remote = remoteShell(pool, inventory);
  return {
    /** Before any SSH: is this host in the inventory? Returns what people need to know about it. */
    async lookUpHost(host: string): Promise<{ name: string; kind: string; location?: string; simulated: boolean; hasDropbear: boolean; guests?: Guest[] }> {
      const entry = findHost(inventory, host);
      if (!entry) {
        throw failure('UnknownHost', `unknown host "${host}": not in the inventory (known: ${inventory.hosts.map((h) => h.name).join(', ')})`);
      }
      return {
        name: entry.name, kind: entry.kind, location: entry.location, simulated: inventory.simulated,
        hasDropbear: entry.hostKeys.dropbear !== undefined, guests: entry.guests,
      };
    },
    /** A cluster of the inventory and its nodes, in the inventory's order (the order of a rolling reboot). */
    async lookUpCluster(name: string): Promise<{ name: string; kind: string; hosts: string[] }> {
      const cluster = inventory.clusters.find((c) => c.name === name);
      if (!cluster) {
        throw failure('UnknownHost', `unknown cluster "${name}": not in the inventory (known: ${inventory.clusters.map((c) => c.name).join(', ') || 'none'})`);
      }
      return { name: cluster.name, kind: cluster.kind, hosts: cluster.hosts };
    },
    ...raidActivities(remote),
    ...hostActivities(remote),
    ...luksActivities(remote),
    ...proxmoxActivities(remote),
    ...xenActivities(remote),
    ...mailActivities(inventory),
    ...intakeActivities(inventory),
    ...dnsActivities(inventory),
    ...leaseActivities(),
  };
}

export type Activities = ReturnType<typeof createActivities>;
