// The workflow types the worker registers: one per runbook, named as people start them.
export { diskReplacement } from './diskReplacement.js';
export { rebootHost } from './rebootHost.js';
export { hypervisorReboot } from './hypervisorReboot.js';
export { rollingClusterReboot } from './rollingClusterReboot.js';
export { luksKeyRotation } from './luksKeyRotation.js';
