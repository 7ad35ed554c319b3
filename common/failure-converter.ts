/**
 * How failures are written to history (loaded by path: the worker bundles it into the workflow sandbox).
 *
 * An admin reads a refusal or a failed run in the Web UI, with or without our codec: the message of our own
 * failures is plain (common/failures.ts builds it from validated inputs and parsed facts), and so is the SDK's and
 * the server's own wording (activity / child workflow failed, timeout, cancelled, terminated). Every other message
 * (a type whose message may quote a host's output, an unexpected error) is replaced by ENCRYPTED_MESSAGE and kept,
 * with its stack, in `encodedAttributes`, which our codec encrypts like every payload. No stack trace is ever
 * written in clear, and none at all with a plain message: it only names worker files. Details are payloads, so they
 * are always encrypted.
 */
import {
  DefaultFailureConverter,
  type PayloadConverter,
  type ProtoFailure,
  type SerializationContext,
} from '@temporalio/common';
import { plainMessage } from './failures.js';

export const ENCRYPTED_MESSAGE = 'encrypted failure message (it may quote a host\'s output): read it with npx runbook result, or in the Web UI with the codec endpoint';

/** Failures whose message the SDK or the server writes, never from a host. */
const SDK_WORDING: (keyof ProtoFailure)[] = [
  'activityFailureInfo', 'childWorkflowExecutionFailureInfo', 'timeoutFailureInfo', 'canceledFailureInfo', 'terminatedFailureInfo',
];

function isPlain(failure: ProtoFailure): boolean {
  if (failure.applicationFailureInfo) return plainMessage(failure.applicationFailureInfo.type);
  return SDK_WORDING.some((info) => failure[info]);
}

class RunbookFailureConverter extends DefaultFailureConverter {
  constructor() {
    // Which attributes are encoded is decided per failure below; decoding reads `encodedAttributes` either way.
    super({ encodeCommonAttributes: false });
  }

  override errorToFailure(err: unknown, payloadConverter: PayloadConverter, context?: SerializationContext): ProtoFailure {
    // Causes come through here too (the base class converts them with this method).
    const failure = super.errorToFailure(err, payloadConverter, context);
    const { message, stackTrace } = failure;
    failure.stackTrace = '';
    if (isPlain(failure)) {
      failure.encodedAttributes = null;
    } else {
      failure.message = ENCRYPTED_MESSAGE;
      failure.encodedAttributes = payloadConverter.toPayload({ message, stack_trace: stackTrace }, context);
    }
    return failure;
  }
}

export const failureConverter = new RunbookFailureConverter();
