// Loaded by path (the worker bundles it into the workflow sandbox): error messages and stack traces are
// encoded as payloads, so the codec encrypts them like every other payload.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
