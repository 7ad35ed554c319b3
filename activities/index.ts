/**
 * All activities, built over one SSH pool per worker. Workflows import the *type* only.
 */
import { readFileSync } from 'node:fs';
import { approvalPolicyOf, findHost, peopleWith, type ApprovalPolicy, type Guest, type Inventory } from '../common/inventory.js';
import { SshPool } from './ssh/pool.js';
import { remoteShell } from './ssh/remote.js';
import { raidActivities } from './raid/activities.js';
import { dnsActivities } from './dns.js';
import { hostActivities } from './host.js';
import { intakeActivities } from './intake.js';
import { replyActivities } from './replies.js';
import { leaseActivities } from './leases.js';
import { luksActivities } from './luks.js';
import { heldKeyIds } from './secrets.js';
import { lvmActivities } from './lvm.js';
import { jobActivities } from './jobs.js';
import { sshdConfigActivities } from './sshdConfig.js';
import { ganetiActivities } from './ganeti.js';
import { onboardingActivities } from './onboarding.js';
import { proxmoxSnapshotActivities } from './proxmoxSnapshots.js';
import { mailActivities } from './mail.js';
import { proxmoxActivities } from './proxmox.js';
import { proxmoxMemberActivities } from './proxmoxMembers.js';
import { corosyncActivities } from './corosync.js';
import { cephActivities } from './ceph.js';
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
    /** The inventory cluster that holds `host` (its lease is the cluster's). */
    async clusterOfHost(host: string): Promise<{ name: string; kind: string; hosts: string[] }> {
      const cluster = inventory.clusters.find((c) => c.hosts.includes(host));
      if (!cluster) throw failure('InvalidInput', `invalid input:\nhost: ${host} is in no cluster of the inventory`);
      return { name: cluster.name, kind: cluster.kind, hosts: cluster.hosts };
    },
    /** The key ids of the worker's sealing keys: submitPassphrase's validator refuses a value sealed for another. */
    async sealingKeyIds(): Promise<string[]> {
      return heldKeyIds();
    },
    /**
     * Who approves `runbook`'s plans and how (the inventory's policy), with the names and keys of the people who
     * may: the workflow's Update validator checks approvals against these (it reads no file itself).
     */
    async approvalPolicy(runbook: string): Promise<ApprovalRules> {
      const policy = approvalPolicyOf(inventory, runbook);
      return {
        ...policy,
        ...(policy.roles ? { approvers: peopleWith(inventory, policy.roles).map((p) => ({ name: p.name, roles: p.roles, ...(p.sshKey ? { sshKey: p.sshKey } : {}) })) } : {}),
      };
    },
    ...raidActivities(remote),
    ...hostActivities(remote),
    ...luksActivities(remote),
    ...proxmoxActivities(remote),
    ...proxmoxMemberActivities(remote),
    ...corosyncActivities(remote),
    ...cephActivities(remote),
    ...xenActivities(remote),
    ...lvmActivities(remote),
    ...jobActivities(remote),
    ...sshdConfigActivities(remote),
    ...ganetiActivities(remote),
    ...onboardingActivities(inventory),
    ...proxmoxSnapshotActivities(remote),
    ...mailActivities(inventory),
    ...intakeActivities(inventory),
    ...replyActivities(),
    ...dnsActivities(inventory),
    ...leaseActivities(),
  };
}

/** A runbook's approval policy as the workflow holds it: without `approvers`, anyone may approve by name. */
export type ApprovalRules = ApprovalPolicy & { approvers?: { name: string; roles: string[]; sshKey?: string }[] };

export type Activities = ReturnType<typeof createActivities>;
