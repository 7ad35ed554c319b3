// The workflow types the worker registers: one per runbook, named as people start them.
export { diskReplacement } from './diskReplacement.js';
export { rebootHost } from './rebootHost.js';
