/**
 * The host steps of "Démonter notre cluster Proxmox", built once from the preflight's facts: the plan shows these
 * and the run walks these. Each runs through an activity that looks first (activities/corosync.ts).
 */
import type { Outcome } from '../activities/raid/activities.js';
import { pveCluster, type ClusterUnit } from '../common/commands.js';
import { hostChange } from './proxies.js';
import { summarized } from './runbook.js';
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
  /** « Nous pouvons le supprimer à partir du nœud restant du cluster » */
  deleteNode: HostStep<Outcome>[];
  /** « supprimer tous les fichiers restants de l'ancien cluster » */
  cleanState: HostStep<Outcome>[];
}

export const PVE_COROSYNC_CONF = '/etc/pve/corosync.conf';

export function separationSteps(o: { host: string; remaining: string; backupDir: string; etcFiles: string[]; varLibFiles: string[] }): SeparationSteps {
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
    deleteNode: [on(pveCluster.deleteNode(host), `from ${remaining}, a remaining member; skipped when its nodelist no longer has ${host}`, (command) =>
      summarized(hostChange.deleteNode, `pvecm delnode ${host} on ${remaining}`)(remaining, host, command), remaining)],
    cleanState: varLib.length ? [on(pveCluster.remove(varLib), 'the page\'s `rm /var/lib/corosync/*`, the files named: the node may join another cluster', (command) =>
      summarized(hostChange.removePaths, `rm /var/lib/corosync/* on ${host}`)(host, varLib, command))] : [],
  };
}
