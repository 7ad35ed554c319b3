/**
 * All activities, built over one SSH pool per worker. Workflows import the *type* only.
 */
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/activity';
import { findHost, type Inventory } from '../common/inventory.js';
import { SshPool } from './ssh/pool.js';
import { remoteShell } from './ssh/remote.js';
import { raidActivities } from './raid/activities.js';
import { hostActivities } from './host.js';

export function createActivities(inventory: Inventory, pool = new SshPool({ privateKey: readFileSync(inventory.ssh.privateKeyPath) })) {
  const remote = remoteShell(pool, inventory);
  return {
    /** Before any SSH: is this host in the inventory? Returns what people need to know about it. */
    async lookUpHost(host: string): Promise<{ name: string; kind: string; location?: string; simulated: boolean }> {
      const entry = findHost(inventory, host);
      if (!entry) {
        throw ApplicationFailure.nonRetryable(
          `unknown host "${host}": not in the inventory (known: ${inventory.hosts.map((h) => h.name).join(', ')})`,
          'UnknownHost',
        );
      }
      return { name: entry.name, kind: entry.kind, location: entry.location, simulated: inventory.simulated };
    },
    ...raidActivities(remote),
    ...hostActivities(remote),
  };
}

export type Activities = ReturnType<typeof createActivities>;
