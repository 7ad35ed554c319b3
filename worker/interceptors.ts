/**
 * Workflow interceptors (bundled into the workflow sandbox: `interceptors.workflowModules` in worker/main.ts).
 *
 * Encrypted payloads only: a run's input or an Update's argument that did not go through our codec reaches workflow
 * code as a NotEncrypted value (common/payload-converter.ts). The run fails at once with the reason, before any
 * runbook code runs; the Update is rejected by its validator, so nothing of it is recorded. Empty argument lists (no
 * input) are fine. A Signal with such an argument is dropped (our Signals come from our own workflows, encrypted).
 */
import { log, type WorkflowInboundCallsInterceptor, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { failure } from '../common/failures.js';
import { isNotEncrypted, NOT_ENCRYPTED_MESSAGE } from '../common/payload-converter.js';

function refuseNotEncrypted(args: readonly unknown[]): void {
  if (args.some(isNotEncrypted)) throw failure('NotEncrypted', NOT_ENCRYPTED_MESSAGE);
}

const encryptedOnly: WorkflowInboundCallsInterceptor = {
  async execute(input, next) {
    refuseNotEncrypted(input.args);
    return next(input);
  },
  validateUpdate(input, next) {
    refuseNotEncrypted(input.args);
    next(input);
  },
  // Every Update of ours has a validator; this one holds if a new Update comes without.
  async handleUpdate(input, next) {
    refuseNotEncrypted(input.args);
    return next(input);
  },
  async handleQuery(input, next) {
    refuseNotEncrypted(input.args);
    return next(input);
  },
  async handleSignal(input, next) {
    if (input.args.some(isNotEncrypted)) {
      log.warn(`signal "${input.signalName}" ignored: ${NOT_ENCRYPTED_MESSAGE}`);
      return;
    }
    return next(input);
  },
};

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [encryptedOnly] });
