/**
 * The systematic kill test (test/helpers/kill-boundaries.ts), for the runbooks of the Xen, LVM and Ganeti hosts: the
 * worker dies once in each run and is restarted at once; each run completes, each approved change made once.
 * The Proxmox cluster's runbooks: test/kill-boundaries-proxmox.test.ts. Lab subnet 213.
 */
import { xenDom0WithGuests } from '../lab/hosts/xen-dom0.js';
import { presets } from '../lab/lab.js';
import { approved, disk, killBoundaries, lvmPolls, reboot } from './helpers/kill-boundaries.js';

killBoundaries({
  taskQueue: 'kill-boundaries',
  subnet: 213,
  hosts: [
    presets.xenDom0Raid1('k-hot', { failedSlot: 0 }),
    presets.xenDom0Raid1('k-cold', { missingSlot: 0, bootDelayMs: 1000 }),
    xenDom0WithGuests('k-xen', { bootDelayMs: 800 }),
    // Its backup's dd copies 10 GiB in 2.5 s.
    xenDom0WithGuests('k-lvm', { jobBytesPerSecond: 4 * 1024 ** 3 }),
    presets.ganetiNodeSkeleton('k-gnt', { bootDelayMs: 300 }),
  ],
}, [
  // One line per runbook (and variant): a new runbook joins here.
  disk('diskReplacement, hot swap', 'k-hot', 'hot', 0, 'completed:1'),
  disk('diskReplacement, cold swap', 'k-cold', 'cold', 0, 'scheduled:1'),
  reboot('hypervisorReboot, Xen dom0', 'k-xen', 'scheduled:1'),
  approved('vmDiskResize', 'vmDiskResize', 'k-lvm', { guest: 'srvnfs', volume: 'srvnfs_root', add: '2G', ...lvmPolls }, 'scheduled:1'),
  // The page's life of a snapshot, in turn: made (its fill watch, a workflow of its own, ends once the merge removed
  // it), backed up (the detached dd re-attached after the kill), merged back.
  approved('vmSnapshot', 'vmSnapshot', 'k-lvm', { guest: 'guest1', volume: 'guest1_root', purpose: 'config-change', fillPollInterval: '2s', ...lvmPolls }, 'completed:1'),
  approved('vmBackup', 'vmBackup', 'k-lvm', { snapshot: 'guest1_root_snap1', file: '/srv/backup/guest1.raw.bz2', pollInterval: '1s' }, 'completed:1'),
  approved('vmRestore', 'vmRestore', 'k-lvm', { guest: 'guest1', volume: 'guest1_root', from: 'snapshot', snapshot: 'guest1_root_snap1', ...lvmPolls }, 'completed:1'),
  approved('ganetiHypervisorSetup', 'ganetiHypervisorSetup', 'k-gnt', {}, 'completed:1'),
]);
