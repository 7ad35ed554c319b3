// The workflow types the worker registers: one per runbook, named as people start them.
export { diskReplacement } from './diskReplacement.js';
export { rebootHost } from './rebootHost.js';
export { hypervisorReboot } from './hypervisorReboot.js';
export { rollingClusterReboot } from './rollingClusterReboot.js';
export { luksKeyRotation } from './luksKeyRotation.js';
export { vmDiskResize } from './vmDiskResize.js';
export { vmBackup } from './vmBackup.js';
export { vmSnapshot } from './vmSnapshot.js';
export { vmRestore } from './vmRestore.js';
// A snapshot's fill watch: started by vmSnapshot, ends when the snapshot is gone.
export { snapshotWatch } from './snapshotWatch.js';
export { proxmoxSnapshot } from './proxmoxSnapshot.js';
export { ganetiHypervisorSetup } from './ganetiHypervisorSetup.js';
export { vmOnboarding } from './vmOnboarding.js';
export { vmMigration } from './vmMigration.js';
export { nodeSeparation } from './nodeSeparation.js';
export { clusterTeardown } from './clusterTeardown.js';
// Member requests by mail: the request mailbox's poller, and the run it starts per request.
export { mailIntake } from './mailIntake.js';
export { vmRequest } from './vmRequest.js';
// One runbook changes a host at a time: the lease of a host or cluster (not started by people).
export { lease } from './lease.js';
