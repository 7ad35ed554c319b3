/**
 * The lab `npm start` runs: dom0-a with a failed disk and dom0-b (disk replacement), dom0-c running the Xen page's
 * guests (ordered shutdown), and the Proxmox cluster "fma" of pve1, pve2, pve3 with encrypted roots and LUNs
 * (planned reboot, rolling reboot, key rotation), and the Ganeti cluster "gnt" of gnt-master and gnt-node, its
 * hypervisors prepared for members' jailed accounts (VM onboarding). Passphrases are the lab's defaults: proxmoxPassphrase().
 */
import type { LabClusterSpec, LabHostSpec } from './core/types.js';
import { proxmoxCluster } from './hosts/proxmox-node.js';
import { presets } from './core/registry.js';
import { xenDom0WithGuests } from './hosts/xen-dom0.js';

export function demoLab(): { hosts: LabHostSpec[]; clusters: LabClusterSpec[] } {
  const cluster = proxmoxCluster({ names: ['pve1', 'pve2', 'pve3'], bootDelayMs: 5_000 });
  const ganeti = presets.ganetiCluster({ nodes: ['gnt-master', 'gnt-node'], prepared: true, addMs: 20_000 });
  return {
    hosts: [presets.xenDom0Raid1('dom0-a', { failedSlot: 0 }), presets.xenDom0Raid1('dom0-b'), xenDom0WithGuests('dom0-c'), ...cluster.hosts, ...ganeti.hosts],
    clusters: [...cluster.clusters, ...ganeti.clusters],
  };
}
