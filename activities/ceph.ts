/**
 * Ceph OSDs of a node that leaves its cluster: read what is there, then one activity per command, each looking
 * first, and a durable wait (one look per attempt, the polling policy between) until `ceph osd safe-to-destroy`.
 */
import { Context } from '@temporalio/activity';
import { ceph, type Command } from '../common/commands.js';
import { failure } from '../common/failures.js';
import type { Outcome } from './raid/activities.js';
import type { RemoteShell } from './ssh/remote.js';

interface TreeNode { id: number; name: string; type: string; children?: number[]; status?: string; reweight?: number }

export interface CephFacts {
  /** The node's OSDs: up (its daemon runs), in (holds data). */
  osds: { id: number; up: boolean; in: boolean }[];
  /** The OSDs of the other nodes that are up and in. */
  othersIn: number;
  pools: { name: string; size: number; minSize: number }[];
  /** The node's monitor (named after it), and `ceph mon ok-to-rm`'s answer: null when removing it keeps the quorum. */
  mon: { name: string; refused: string | null } | null;
  /** The node's manager, and why it may not go (no other manager stands by), or null. */
  mgr: { name: string; refused: string | null } | null;
}

export function cephActivities(remote: RemoteShell) {
  async function tree(host: string): Promise<TreeNode[]> {
    return (JSON.parse((await remote.run(host, ceph.tree())).stdout) as { nodes: TreeNode[] }).nodes;
  }
  async function monitors(host: string): Promise<string[]> {
    return (JSON.parse((await remote.run(host, ceph.monitors())).stdout) as { mons: { name: string }[] }).mons.map((m) => m.name);
  }
  /** Every manager by name: the active one first, then the standbys. */
  async function managers(host: string): Promise<string[]> {
    const dump = JSON.parse((await remote.run(host, ceph.managers())).stdout) as { active_name: string; standbys: { name: string }[] };
    return [dump.active_name, ...dump.standbys.map((s) => s.name)].filter(Boolean);
  }
  async function osdOf(host: string, id: number): Promise<TreeNode | undefined> {
    return (await tree(host)).find((n) => n.type === 'osd' && n.id === id);
  }

  return {
    /** Null when the node has no Ceph (no `ceph` command). */
    async readCeph(host: string): Promise<CephFacts | null> {
      const probe = await remote.run(host, ceph.tree(), { allowFailure: true });
      if (probe.exitCode === 127) return null;
      const nodes = (JSON.parse(probe.stdout) as { nodes: TreeNode[] }).nodes;
      const mine = new Set(nodes.find((n) => n.type === 'host' && n.name === host)?.children ?? []);
      const osds = nodes.filter((n) => n.type === 'osd');
      const pools = (JSON.parse((await remote.run(host, ceph.pools())).stdout) as { pool_name: string; size: number; min_size: number }[])
        .map((p) => ({ name: p.pool_name, size: p.size, minSize: p.min_size }));
      let mon: CephFacts['mon'] = null;
      if ((await monitors(host)).includes(host)) {
        const check = await remote.run(host, ceph.monOkToRemove(host), { allowFailure: true });
        mon = { name: host, refused: check.exitCode === 0 ? null : check.stderr.trim() };
      }
      const mgrs = await managers(host);
      const mgr = mgrs.includes(host) ? { name: host, refused: mgrs.length > 1 ? null : `mgr.${host} is the only manager: no other one stands by` } : null;
      return {
        mon,
        mgr,
        osds: osds.filter((o) => mine.has(o.id)).map((o) => ({ id: o.id, up: o.status === 'up', in: o.reweight !== 0 })),
        othersIn: osds.filter((o) => !mine.has(o.id) && o.status === 'up' && o.reweight !== 0).length,
        pools,
      };
    },

    /** `ceph osd out`, after `ceph osd ok-to-stop` says the PGs stay available; done once its reweight is 0. */
    async markOsdOut(host: string, id: number, command: Command): Promise<Outcome> {
      if ((await osdOf(host, id))?.reweight === 0) return 'already done';
      const check = await remote.run(host, ceph.okToStop(id), { allowFailure: true });
      if (check.exitCode !== 0) throw failure('CommandFailed', `ceph osd ok-to-stop ${id} on ${host}: ${check.stderr.trim()}`);
      await remote.run(host, command);
      return 'done';
    },

    /** One look: fails (benign, retried by the polling policy) while PGs are still mapped to the OSD. */
    async expectOsdSafeToDestroy(host: string, id: number): Promise<void> {
      const result = await remote.run(host, ceph.safeToDestroy(id), { allowFailure: true });
      Context.current().heartbeat({ osd: id, safeToDestroy: result.exitCode === 0 });
      if (result.exitCode !== 0) throw failure('OsdNotSafeYet', `osd.${id}: ${(result.stderr || result.stdout).trim()}`);
    },

    async stopOsd(host: string, id: number, command: Command): Promise<Outcome> {
      if ((await remote.run(host, ceph.isActive(id), { allowFailure: true })).stdout.trim() !== 'active') return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /** `pveceph mon destroy`, after `ceph mon ok-to-rm` agrees again; done once the monmap no longer has it. */
    async destroyMonitor(host: string, name: string, command: Command): Promise<Outcome> {
      if (!(await monitors(host)).includes(name)) return 'already done';
      const check = await remote.run(host, ceph.monOkToRemove(name), { allowFailure: true });
      if (check.exitCode !== 0) throw failure('CommandFailed', `ceph mon ok-to-rm ${name} on ${host}: ${check.stderr.trim()}`);
      await remote.run(host, command);
      return 'done';
    },

    /** `pveceph mgr destroy`, only while another manager stands by; done once the mgr map no longer has it. */
    async destroyManager(host: string, name: string, command: Command): Promise<Outcome> {
      const mgrs = await managers(host);
      if (!mgrs.includes(name)) return 'already done';
      if (mgrs.length < 2) throw failure('CommandFailed', `mgr.${name} on ${host} is the only manager: no other one stands by`);
      await remote.run(host, command);
      return 'done';
    },

    /** `pveceph pool destroy`: done once `ceph osd pool ls` no longer has it. */
    async destroyPool(host: string, name: string, command: Command): Promise<Outcome> {
      const pools = JSON.parse((await remote.run(host, ceph.pools())).stdout) as { pool_name: string }[];
      if (!pools.some((p) => p.pool_name === name)) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /** `pveceph osd destroy`: done once the OSD is no longer in the tree. */
    async destroyOsd(host: string, id: number, command: Command): Promise<Outcome> {
      if (!(await osdOf(host, id))) return 'already done';
      await remote.run(host, command);
      return 'done';
    },
  };
}
