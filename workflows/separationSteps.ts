/**
 * The host steps of "Démonter notre cluster Proxmox", built once from the preflight's facts: the plan shows these
 * and the run walks these. Each runs through an activity that looks first (activities/corosync.ts).
 */
import type { Outcome } from '../activities/raid/activities.js';
import { pveCluster, type ClusterUnit } from '../common/commands.js';
import { hostChange } from './proxies.js';
import { summarized, type Runbook } from './runbook.js';
import type { HostStep } from './steps.js';

export interface SeparationSteps {
  /** « on arrête les services corosync et pve-cluster sur le nœud » */
  stopServices: HostStep<Outcome>[];
  /** « On redémarre le système de fichiers du cluster en mode local » */
  localMode: HostStep<Outcome>[];
  /** « On supprime les fichiers de configuration de corosync », after a copy the page does not make. */
  removeConfig: HostStep<Outcome>[];
  /** « redémarrer le système de fichiers en tant que service normal en quittant le mode local » */
  leaveLocalMode: HostStep<Outcome>[];
  /**
   * « Nous pouvons le supprimer à partir du nœud restant du cluster »; empty for the last node, which nothing remains
   * to delete it from. When the remaining members lose quorum with this node gone (two nodes, no QDevice), their
   * expected votes are lowered first (`pvecm expected`): delnode needs a quorate cluster.
   */
  deleteNode: HostStep<Outcome>[];
  /** « supprimer tous les fichiers restants de l'ancien cluster » */
  cleanState: HostStep<Outcome>[];
}

export const PVE_COROSYNC_CONF = '/etc/pve/corosync.conf';

export function separationSteps(o: {
  host: string; remaining: string | null; backupDir: string; etcFiles: string[]; varLibFiles: string[];
  /** The expected votes `remaining` must be given before delnode, when it is not quorate without this node. */
  expectedVotes?: number;
}): SeparationSteps {
  const { host, remaining, backupDir } = o;
  const on = (command: HostStep<Outcome>['command'], why: string, run: HostStep<Outcome>['run'], where = host): HostStep<Outcome> => ({ host: where, stage: 'openssh', command, why, run });
  const stop = (unit: ClusterUnit) => on(pveCluster.stop(unit), `${unit} stopped first: the node leaves the membership`, (command) =>
    summarized(hostChange.setClusterUnit, `systemctl stop ${unit} on ${host}`)(host, unit, false, command));
  const etc = o.etcFiles.map((f) => `/etc/corosync/${f}`);
  const varLib = o.varLibFiles.map((f) => `/var/lib/corosync/${f}`);
  const saved = [PVE_COROSYNC_CONF, '/etc/corosync', '/var/lib/corosync'];
  return {
    stopServices: [stop('pve-cluster'), stop('corosync')],
    localMode: [on(pveCluster.localMode(), '/etc/pve mounted for this node alone: its corosync.conf can go without touching the others\'', (command) =>
      summarized(hostChange.startLocalPmxcfs, `pmxcfs -l on ${host}`)(host, command))],
    removeConfig: [
      on(pveCluster.makeDir(backupDir), 'the backup folder, dated: the page deletes the configuration outright', (command) =>
        summarized(hostChange.backUp, `mkdir ${backupDir} on ${host}`)(host, backupDir, command)),
      on(pveCluster.copy(saved, backupDir), 'a copy of everything the separation removes, before it does', (command) =>
        summarized(hostChange.backUp, `back up the corosync configuration of ${host} to ${backupDir}`)(host, `${backupDir}/corosync`, command)),
      on(pveCluster.remove([PVE_COROSYNC_CONF]), 'in local mode only: this node\'s copy, not the cluster\'s', (command) =>
        summarized(hostChange.removePaths, `rm ${PVE_COROSYNC_CONF} on ${host}`)(host, [PVE_COROSYNC_CONF], command)),
      ...(etc.length ? [on(pveCluster.remove(etc), 'the page\'s `rm -r /etc/corosync/*`, the files named', (command) =>
        summarized(hostChange.removePaths, `rm /etc/corosync/* on ${host}`)(host, etc, command))] : []),
    ],
    leaveLocalMode: [
      on(pveCluster.stopLocalPmxcfs(), 'the pmxcfs of `pmxcfs -l`, by its pid (the page\'s killall would hit any pmxcfs)', (command) =>
        summarized(hostChange.stopLocalPmxcfs, `stop the local pmxcfs of ${host}`)(host, command)),
      on(pveCluster.start('pve-cluster'), 'pmxcfs as a service again, now standalone', (command) =>
        summarized(hostChange.setClusterUnit, `systemctl start pve-cluster on ${host}`)(host, 'pve-cluster', true, command)),
    ],
    deleteNode: remaining === null ? [] : [
      ...(o.expectedVotes === undefined ? [] : [on(pveCluster.expectVotes(o.expectedVotes), `${remaining} alone has ${o.expectedVotes} vote${o.expectedVotes === 1 ? '' : 's'} of the expected ones and no quorum: delnode needs it back`, (command) =>
        summarized(hostChange.restoreQuorum, `pvecm expected ${o.expectedVotes} on ${remaining}`)(remaining, command), remaining)]),
      on(pveCluster.deleteNode(host), `from ${remaining}, a remaining member; skipped when its nodelist no longer has ${host}`, (command) =>
        summarized(hostChange.deleteNode, `pvecm delnode ${host} on ${remaining}`)(remaining, host, command), remaining),
    ],
    cleanState: varLib.length ? [on(pveCluster.remove(varLib), 'the page\'s `rm /var/lib/corosync/*`, the files named: the node may join another cluster', (command) =>
      summarized(hostChange.removePaths, `rm /var/lib/corosync/* on ${host}`)(host, varLib, command))] : [],
  };
}

/** The page's headings for one node, in its order: the plan lists the steps under them and the run walks them. */
export const SEPARATION_TITLES = [
  'stop the cluster services on the node',
  'restart the cluster filesystem in local mode',
  'remove the corosync configuration (copied first)',
  'leave local mode: pve-cluster as a service again',
  'delete the node from a remaining node',
  'clean the old cluster\'s files on the separated node',
] as const;
export type SeparationTitle = (typeof SEPARATION_TITLES)[number];

/** The node's steps under the page's headings, in order, and why a heading has none. */
export function sequenceOf(host: string, node: SeparationSteps): { title: SeparationTitle; steps: HostStep<Outcome>[]; none: string }[] {
  const [stop, local, remove, leave, del, clean] = SEPARATION_TITLES;
  return [
    { title: stop, steps: node.stopServices, none: '' },
    { title: local, steps: node.localMode, none: '' },
    { title: remove, steps: node.removeConfig, none: '' },
    { title: leave, steps: node.leaveLocalMode, none: '' },
    { title: del, steps: node.deleteNode, none: `${host} is the last node: no member remains to delete it from, it ends standalone` },
    { title: clean, steps: node.cleanState, none: `/var/lib/corosync on ${host} was empty` },
  ];
}

/** Walk one node's sequence: each heading a step of the runbook (`title` names it, e.g. with the node), or skipped. */
export async function separate(o: {
  runbook: Runbook; host: string; node: SeparationSteps; walk: (steps: readonly HostStep[]) => Promise<void>;
  title?: (heading: SeparationTitle) => string;
}): Promise<void> {
  const name = o.title ?? ((h: SeparationTitle) => h);
  for (const { title, steps, none } of sequenceOf(o.host, o.node)) {
    if (steps.length) await o.runbook.step(name(title), () => o.walk(steps));
    else o.runbook.skip(name(title), none);
  }
}
