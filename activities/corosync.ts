/**
 * Taking a node out of its Proxmox cluster ("Démonter notre cluster Proxmox"): the reads that plan it and check it,
 * and one activity per line of the page. Each looks first at whether its change is made, so a retry after a crash
 * (a worker killed, a connection dropped) finds it done and reports 'already done'.
 */
import { Context } from '@temporalio/activity';
import { pveCluster, proxmox, type ClusterUnit, type Command } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { parseCorosyncNodelist, parsePvecmNodes, parsePvecmStatus, type PvecmMember, type PvecmStatus } from './parsers/proxmox.js';
import type { Outcome } from './raid/activities.js';
import type { RemoteShell } from './ssh/remote.js';

export interface QuorumFacts {
  status: PvecmStatus;
  /** `pvecm nodes`: the members online now, the QDevice's row marked. */
  members: PvecmMember[];
  /** corosync.conf's nodelist: every node of the cluster, online or not. */
  nodelist: string[];
}

export function corosyncActivities(remote: RemoteShell) {
  async function active(host: string, unit: ClusterUnit): Promise<boolean> {
    return (await remote.run(host, pveCluster.isActive(unit), { allowFailure: true })).stdout.trim() === 'active';
  }
  async function pmxcfsPids(host: string): Promise<number[]> {
    const out = (await remote.run(host, pveCluster.pmxcfsPids(), { allowFailure: true })).stdout.trim();
    return out ? out.split(/\s+/).map(Number) : [];
  }
  async function exists(host: string, path: string): Promise<boolean> {
    return (await remote.run(host, pveCluster.exists(path), { allowFailure: true })).exitCode === 0;
  }
  async function list(host: string, dir: string): Promise<string[]> {
    const result = await remote.run(host, pveCluster.list(dir), { allowFailure: true });
    return result.exitCode === 0 ? result.stdout.split('\n').filter(Boolean) : [];
  }
  async function readQuorum(host: string): Promise<QuorumFacts> {
    // The page shows `pvecm status` exiting 1 while quorate: read the output, not the exit code.
    const status = parsePvecmStatus((await remote.run(host, proxmox.quorum(), { allowFailure: true })).stdout);
    const members = parsePvecmNodes((await remote.run(host, pveCluster.nodes())).stdout);
    const nodelist = parseCorosyncNodelist((await remote.run(host, pveCluster.config())).stdout);
    return { status, members, nodelist };
  }
  /** /etc/pve is writable here only in local mode: pve-cluster stopped and one pmxcfs, the one `pmxcfs -l` started. */
  async function expectLocalMode(host: string): Promise<number> {
    const pids = await pmxcfsPids(host);
    if ((await active(host, 'pve-cluster')) || pids.length !== 1) {
      throw failure('CommandFailed', `${host} is not in local mode (pve-cluster ${await active(host, 'pve-cluster') ? 'active' : 'stopped'}, pmxcfs pids: ${pids.join(' ') || 'none'}): /etc/pve is not this node's alone`);
    }
    return pids[0]!;
  }

  return {
    readQuorum,

    /** What the page removes with globs, named: /etc/corosync/* and /var/lib/corosync/*. */
    async listCorosyncFiles(host: string): Promise<{ etc: string[]; varLib: string[] }> {
      return { etc: await list(host, '/etc/corosync'), varLib: await list(host, '/var/lib/corosync') };
    },

    /** `systemctl stop|start UNIT`: done once the unit is as the command leaves it. */
    async setClusterUnit(host: string, unit: ClusterUnit, running: boolean, command: Command): Promise<Outcome> {
      if ((await active(host, unit)) === running) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    async startLocalPmxcfs(host: string, command: Command): Promise<Outcome> {
      if (!(await active(host, 'pve-cluster')) && (await pmxcfsPids(host)).length === 1) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /** The copy comes before the removal: done once `marker` (a copied path) is in the backup folder. */
    async backUp(host: string, marker: string, command: Command): Promise<Outcome> {
      if (await exists(host, marker)) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /** `rm -rf` of named paths; the ones under /etc/pve only in local mode (else they are the whole cluster's). */
    async removePaths(host: string, paths: string[], command: Command): Promise<Outcome> {
      if (paths.some((p) => p.startsWith('/etc/pve/'))) await expectLocalMode(host);
      const left = [];
      for (const p of paths) if (await exists(host, p)) left.push(p);
      if (!left.length) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /** The pmxcfs that `pmxcfs -l` started, by its pid: never `killall`, which would also hit a pve-cluster's. */
    async stopLocalPmxcfs(host: string, _planned: Command): Promise<Outcome> {
      if ((await pmxcfsPids(host)).length === 0) return 'already done';
      const pid = await expectLocalMode(host);
      Context.current().heartbeat({ killing: pid });
      await remote.run(host, pveCluster.kill(pid));
      return 'done';
    },

    /** `pvecm delnode` on a remaining member; done once its corosync.conf no longer lists the node. */
    async deleteNode(remaining: string, node: string, command: Command): Promise<Outcome> {
      if (!parseCorosyncNodelist((await remote.run(remaining, pveCluster.config())).stdout).includes(node)) return 'already done';
      await remote.run(remaining, command);
      return 'done';
    },

    /** `pvecm qdevice remove`: done once `pvecm status` shows no QDevice. */
    async removeQdevice(host: string, command: Command): Promise<Outcome> {
      if (!(await readQuorum(host)).status.qdevice) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /** `pvecm expected N` on the member left alone, so that it may run delnode: done once it is quorate again. */
    async restoreQuorum(host: string, command: Command): Promise<Outcome> {
      if (parsePvecmStatus((await remote.run(host, proxmox.quorum(), { allowFailure: true })).stdout).quorate) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /** A node out of every cluster: `pvecm status` asks "is this node part of a cluster?". Returns what it said. */
    async expectStandalone(host: string): Promise<string> {
      const r = await remote.run(host, proxmox.quorum(), { allowFailure: true });
      const said = `${r.stdout}${r.stderr}`.trim();
      if (!/is this node part of a cluster\?/.test(said)) throw failure('CommandFailed', `${host} still belongs to a cluster: pvecm status says ${said.split('\n')[0] ?? ''}`);
      return said;
    },

    /** One look: fails (and is retried by the polling policy) until the cluster is quorate with `votes` expected and present. */
    async expectVotes(host: string, votes: { expected: number; total: number }): Promise<QuorumFacts> {
      const facts = await readQuorum(host);
      const { quorate, expectedVotes, totalVotes } = facts.status;
      if (!quorate || expectedVotes !== votes.expected || totalVotes !== votes.total) {
        throw failure('NotQuorate', `${host} sees ${quorate ? 'a quorate' : 'no quorate'} cluster with ${totalVotes} of ${expectedVotes} expected votes; waiting for ${votes.total} of ${votes.expected}`);
      }
      return facts;
    },
  };
}
