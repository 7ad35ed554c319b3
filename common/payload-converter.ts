/**
 * The worker's payload converter (loaded by path: the worker bundles it into the workflow sandbox): the default
 * one, plus one encoding of our own. The worker's codec (common/codec.ts, `refuseUnencrypted`) turns a payload that
 * did not go through our codec into an empty payload of encoding NOT_ENCRYPTED_ENCODING; this converter makes it a
 * NotEncrypted value, which worker/interceptors.ts refuses (the run fails, the Update is rejected).
 *
 * It never throws for it: in the TypeScript SDK a converter error on a run's input fails the workflow task again and
 * again (temporalio/sdk-typescript#1139), a run that hangs instead of a run that fails with the reason.
 * Pure code: imported by workflow code.
 */
import {
  BinaryPayloadConverter,
  CompositePayloadConverter,
  JsonPayloadConverter,
  UndefinedPayloadConverter,
  METADATA_ENCODING_KEY,
  type Payload,
  type PayloadConverterWithEncoding,
} from '@temporalio/common';

/** The encoding the worker's codec gives a payload it did not decrypt; its data is dropped. */
export const NOT_ENCRYPTED_ENCODING = 'binary/not-encrypted-by-runbook-codec';

/** What the worker answers a run or an Update whose payload did not go through our codec. */
export const NOT_ENCRYPTED_MESSAGE =
  'payload not encrypted by the runbook codec: start runs with npx runbook, the Web UI with the codec endpoint, '
  + 'or temporal --codec-endpoint <codec server URL> --codec-auth "Bearer <codec token>" (README "The temporal CLI"); '
  + 'nothing was run';

/** A payload that did not go through our codec, as workflow code sees it. */
export class NotEncrypted {
  readonly notEncrypted = true;
  toJSON(): string {
    return '[not encrypted by the runbook codec]';
  }
}

export function isNotEncrypted(value: unknown): value is NotEncrypted {
  return value instanceof NotEncrypted;
}

class NotEncryptedPayloadConverter implements PayloadConverterWithEncoding {
  readonly encodingType = NOT_ENCRYPTED_ENCODING;
  /** Only ever made by the codec: no value converts to it. */
  toPayload(): Payload | undefined {
    return undefined;
  }
  fromPayload<T>(): T {
    return new NotEncrypted() as T;
  }
}

/** What the codec hands on in place of a payload it did not decrypt. */
export function notEncryptedPayload(): Payload {
  return { metadata: { [METADATA_ENCODING_KEY]: new TextEncoder().encode(NOT_ENCRYPTED_ENCODING) }, data: new Uint8Array() };
}

export const payloadConverter = new CompositePayloadConverter(
  new UndefinedPayloadConverter(),
  new BinaryPayloadConverter(),
  new JsonPayloadConverter(),
  new NotEncryptedPayloadConverter(),
);
