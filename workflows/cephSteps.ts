/**
 * The Ceph part of taking a node out (the page's "ceph osd out" then stopping the OSD service: "until then no data
 * is lost"): per OSD of the node, one at a time, `ceph osd out` once `ok-to-stop` agrees, a durable wait until
 * `ceph osd safe-to-destroy` (its data moved to the other OSDs), the service stopped, `pveceph osd destroy`.
 */
import type { Duration } from '@temporalio/common';
import type { CephFacts } from '../activities/ceph.js';
import type { Outcome } from '../activities/raid/activities.js';
import { ceph, type Command } from '../common/commands.js';
import type { People } from './people.js';
import { hostChange, polling } from './proxies.js';
import { summarized, type Runbook } from './runbook.js';
import { persist, type HostStep } from './steps.js';

export interface OsdSteps {
  id: number;
  out: HostStep<Outcome>;
  stop: HostStep<Outcome>;
  destroy: HostStep<Outcome>;
}

/** Why the node's OSDs may not leave: the OSDs left must hold every pool's `size` copies (never below min_size). */
export function cephRefusals(host: string, facts: CephFacts): string[] {
  const mon = [
    ...(facts.mon?.refused ? [`the monitor of ${host} cannot go: ${facts.mon.refused}`] : []),
    ...(facts.mgr?.refused ? [`the manager of ${host} cannot go: ${facts.mgr.refused}`] : []),
  ];
  if (!facts.osds.length) return mon;
  const ids = facts.osds.map((o) => `osd.${o.id}`).join(', ');
  return [...mon, ...facts.pools.filter((p) => facts.othersIn < p.size).map((p) =>
    `removing ${ids} of ${host} leaves ${facts.othersIn} OSD${facts.othersIn === 1 ? '' : 's'} up and in for pool ${p.name} of size ${p.size} (min_size ${p.minSize}): ${facts.othersIn < p.minSize ? 'its data would become unavailable' : 'it would stay degraded, never safe to destroy'}`)];
}

/**
 * The node's monitor, destroyed only while the others keep a majority (`ceph mon ok-to-rm`, asked again before),
 * and its manager, only while another one stands by.
 */
export function daemonSteps(host: string, facts: CephFacts | null): HostStep<Outcome>[] {
  const { mon, mgr } = facts ?? {};
  return [
    ...(mon ? [{
      host, stage: 'openssh' as const, command: ceph.destroyMon(mon.name), why: `after \`ceph mon ok-to-rm ${mon.name}\` agrees: the other monitors keep their quorum`,
      run: (command: Command) => summarized(hostChange.destroyMonitor, `pveceph mon destroy ${mon.name} on ${host}`)(host, mon.name, command),
    }] : []),
    ...(mgr ? [{
      host, stage: 'openssh' as const, command: ceph.destroyMgr(mgr.name), why: 'while another manager stands by (ceph mgr dump)',
      run: (command: Command) => summarized(hostChange.destroyManager, `pveceph mgr destroy ${mgr.name} on ${host}`)(host, mgr.name, command),
    }] : []),
  ];
}

export function osdSteps(host: string, facts: CephFacts | null): OsdSteps[] {
  const on = (command: HostStep<Outcome>['command'], why: string, run: HostStep<Outcome>['run']): HostStep<Outcome> => ({ host, stage: 'openssh', command, why, run });
  return (facts?.osds ?? []).map(({ id }) => ({
    id,
    out: on(ceph.out(id), `after \`ceph osd ok-to-stop ${id}\` agrees; its data moves to the other OSDs`, (command) =>
      summarized(hostChange.markOsdOut, `ceph osd out ${id} on ${host}`)(host, id, command)),
    stop: on(ceph.stop(id), `only once \`ceph osd safe-to-destroy ${id}\` says its data has moved`, (command) =>
      summarized(hostChange.stopOsd, `systemctl stop ceph-osd@${id} on ${host}`)(host, id, command)),
    destroy: on(ceph.destroy(id), 'out, drained and stopped: removed from the CRUSH map, its key and the OSD map', (command) =>
      summarized(hostChange.destroyOsd, `pveceph osd destroy ${id} on ${host}`)(host, id, command)),
  }));
}

/** One OSD at a time: out, wait until safe to destroy (progress in `progress`), stop, destroy. */
export async function removeOsds(o: {
  host: string; steps: OsdSteps[]; people: People; runbook: Runbook; every: Duration; within: Duration;
  walk: (steps: readonly HostStep[]) => Promise<void>; doneSoFar: () => string;
}): Promise<void> {
  const wait = polling(o.every, o.within);
  for (const osd of o.steps) {
    await o.walk([osd.out]);
    o.runbook.detail({ waitingFor: `osd.${osd.id}: its placement groups to move to the other OSDs (ceph osd safe-to-destroy ${osd.id}); the pending activity's last failure says how many are left` });
    await persist(o.people, { host: o.host, title: `ceph osd safe-to-destroy ${osd.id}`, doneSoFar: o.doneSoFar }, () =>
      summarized(wait.expectOsdSafeToDestroy, `wait until osd.${osd.id} of ${o.host} is safe to destroy`)(o.host, osd.id));
    await o.walk([osd.stop, osd.destroy]);
  }
}
