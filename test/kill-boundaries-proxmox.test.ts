/**
 * The systematic kill test (test/helpers/kill-boundaries.ts), for the runbooks of a Proxmox cluster of three
 * LUKS-encrypted nodes: the worker dies once in each run and is restarted at once; each run completes, each approved
 * change made once. The other hosts' runbooks: test/kill-boundaries.test.ts. Lab subnet 252.
 */
import { proxmoxCluster } from '../lab/hosts/proxmox-node.js';
import { FMA, killBoundaries, pveSnapshot, reboot, roll, rotate } from './helpers/kill-boundaries.js';

const fma = proxmoxCluster({ cluster: 'kfma', names: FMA, bootDelayMs: 800, unlockBootDelayMs: 300 });

killBoundaries({ taskQueue: 'kill-boundaries-proxmox', subnet: 252, hosts: fma.hosts, clusters: fma.clusters }, [
  // One line per runbook (and variant): a new runbook joins here.
  reboot('hypervisorReboot, Proxmox node', 'kp1', 'completed:1'),
  roll('rollingClusterReboot', 'scheduled:1'),
  rotate('luksKeyRotation', 'kp2', 'completed:1'),
  pveSnapshot('proxmoxSnapshot', 'snapshot', 'completed:1'),
  // Back to that snapshot: the worker dies once the rollback ran; its retry sees the VM's new generation id.
  pveSnapshot('proxmoxSnapshot, rollback', 'rollback', 'completed:1'),
]);
