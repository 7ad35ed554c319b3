import { describe, expect, it } from 'vitest';
import { ActivityFailure, DefaultFailureConverter, defaultPayloadConverter, RetryState } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError, encodeErrorToFailure } from '@temporalio/common/lib/internal-non-workflow/index.js';
import proto from '@temporalio/proto';
import { AesGcmCodec, generateCodecKey, parseCodecKeys } from '../common/codec.js';
import { ENCRYPTED_MESSAGE, failureConverter } from '../common/failure-converter.js';
import { failure } from '../common/failures.js';
import { isNotEncrypted, NOT_ENCRYPTED_ENCODING, NotEncrypted, payloadConverter } from '../common/payload-converter.js';

describe('AES-256-GCM payload codec', () => {
  const value = { host: 'dom0-a', secret: 'correct horse battery staple' };
  const plain = defaultPayloadConverter.toPayload(value);

  it('encrypts payloads so the plaintext is nowhere in them, and decrypts them back', async () => {
    const codec = new AesGcmCodec(parseCodecKeys(generateCodecKey('k1')));
    const [sealed] = await codec.encode([plain]);
    expect(Buffer.from(sealed!.data!).toString('latin1')).not.toContain('correct horse');
    expect(Buffer.from(sealed!.metadata!['encryption-key-id']!).toString()).toBe('k1');
    expect((await codec.decode([sealed!])).map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([value]);
  });

  it('rotates keys: a new current key still decodes what the old key sealed', async () => {
    const oldKey = generateCodecKey('k1');
    const [sealed] = await new AesGcmCodec(parseCodecKeys(oldKey)).encode([plain]);
    const rotated = new AesGcmCodec(parseCodecKeys(`${generateCodecKey('k2')},${oldKey}`));
    expect(defaultPayloadConverter.fromPayload((await rotated.decode([sealed!]))[0]!)).toEqual(value);
    const [resealed] = await rotated.encode([plain]);
    expect(Buffer.from(resealed!.metadata!['encryption-key-id']!).toString()).toBe('k2');
  });

  it('refuses a payload sealed with an unknown key, and a tampered one', async () => {
    const [sealed] = await new AesGcmCodec(parseCodecKeys(generateCodecKey('k1'))).encode([plain]);
    await expect(new AesGcmCodec(parseCodecKeys(generateCodecKey('k9'))).decode([sealed!])).rejects.toThrow(/unknown codec key "k1"/);
    const codec = new AesGcmCodec(parseCodecKeys(generateCodecKey('k1')));
    const [mine] = await codec.encode([plain]);
    mine!.data![20] = mine!.data![20]! ^ 1;
    await expect(codec.decode([mine!])).rejects.toThrow();
  });
});

describe('the worker\'s codec: encrypted payloads only', () => {
  const key = generateCodecKey('k1');
  const worker = new AesGcmCodec(parseCodecKeys(key), { refuseUnencrypted: true });
  const client = new AesGcmCodec(parseCodecKeys(key));
  const value = { host: 'dom0-a' };
  const plain = defaultPayloadConverter.toPayload(value);

  it('hands workflow code a NotEncrypted value, without the data, for a payload it did not decrypt; a client passes it through', async () => {
    const [refused] = await worker.decode([plain]);
    expect(Buffer.from(refused!.metadata!.encoding!).toString()).toBe(NOT_ENCRYPTED_ENCODING);
    expect(refused!.data).toHaveLength(0);
    expect(isNotEncrypted(payloadConverter.fromPayload(refused!))).toBe(true);
    // The marker cannot be forged from outside: a payload claiming it is one more unencrypted payload.
    const [forged] = await worker.decode([{ ...plain, metadata: { encoding: Buffer.from(NOT_ENCRYPTED_ENCODING) } }]);
    expect(isNotEncrypted(payloadConverter.fromPayload(forged!))).toBe(true);
    // What went through the codec reads as it was; a client (and the codec server) shows what was sent.
    expect(payloadConverter.fromPayload((await worker.decode(await client.encode([plain])))[0]!)).toEqual(value);
    expect((await client.decode([plain]))[0]).toBe(plain);
    expect(() => payloadConverter.toPayload(new NotEncrypted())).not.toThrow(); // JSON of it, never the marker encoding
    expect(Buffer.from(payloadConverter.toPayload(new NotEncrypted())!.metadata!.encoding!).toString()).toBe('json/plain');
  });
});

describe('failures: plain where they are ours, encrypted where they may quote a host', () => {
  const codec = new AesGcmCodec(parseCodecKeys(generateCodecKey('k1')));
  const ours = { payloadConverter: defaultPayloadConverter, failureConverter, payloadCodecs: [codec] };
  /** What the Temporal server stores (what the Web UI shows without our codec), and its bytes. */
  const stored = async (error: Error) => {
    const failure = await encodeErrorToFailure(ours, error);
    return { failure, bytes: Buffer.from(proto.temporal.api.failure.v1.Failure.encode(failure).finish()).toString('latin1') };
  };
  /** A client without our codec: it reads a failure without details or encrypted attributes. */
  const withoutCodec = (f: Parameters<DefaultFailureConverter['failureToError']>[0]) => new DefaultFailureConverter().failureToError(f, defaultPayloadConverter);

  it('an InvalidInput (a validator refusal) reads in plain words, with no stack trace, without the codec', async () => {
    const { failure: f } = await stored(failure('InvalidInput', 'refused:\noperator: say who answers'));
    expect(f.message).toBe('refused:\noperator: say who answers');
    expect(f.stackTrace).toBe('');
    expect(f.encodedAttributes).toBeFalsy();
    const read = withoutCodec(f);
    expect(read.message).toBe('refused:\noperator: say who answers');
    expect(read.stack).toBe('');
  });

  it('a run failed by an activity reads in plain words down its causes; its details stay encrypted', async () => {
    const cause = failure('Refused', 'refused to reboot pve1:\n- not enough room', { freeGiB: 3, note: 'TOP-SECRET-DETAIL' });
    const activity = new ActivityFailure('Activity task failed', 'checkRoom', '1', RetryState.NON_RETRYABLE_FAILURE, 'worker', cause);
    const { failure: f, bytes } = await stored(activity);
    expect(f.message).toBe('Activity task failed');
    expect(f.cause!.message).toBe('refused to reboot pve1:\n- not enough room');
    expect(bytes).not.toMatch(/\.(ts|js):\d+|\n\s+at /);
    expect(bytes).not.toContain('TOP-SECRET-DETAIL');
    expect(Buffer.from(f.cause!.applicationFailureInfo!.details!.payloads![0]!.metadata!.encoding!).toString()).toBe('binary/encrypted');
    expect(f.stackTrace).toBe('');
    expect(f.cause!.stackTrace).toBe('');
  });

  it('a failure that may quote a host\'s output (CommandFailed, an unexpected error) keeps its message, stack and details encrypted', async () => {
    for (const error of [
      failure('CommandFailed', 'cryptsetup on pve1 exited 2: TOP-SECRET-STDERR', { stderr: 'TOP-SECRET-STDERR' }),
      new Error('ssh said TOP-SECRET-STDERR'),
    ]) {
      const { failure: f, bytes } = await stored(error);
      expect(f.message).toBe(ENCRYPTED_MESSAGE);
      expect(f.stackTrace).toBe('');
      expect(Buffer.from(f.encodedAttributes!.metadata!.encoding!).toString()).toBe('binary/encrypted');
      expect(bytes).not.toContain('TOP-SECRET');
      expect(bytes).not.toMatch(/\.(ts|js):\d+/);
      // With the codec (npx runbook, the UI with the codec endpoint): the message, and the stack for a developer.
      const read = await decodeOptionalFailureToOptionalError(ours, f);
      expect(read!.message).toContain('TOP-SECRET-STDERR');
      expect(read!.stack).toMatch(/codec\.test\.ts/);
    }
  });
});
