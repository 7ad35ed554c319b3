import { describe, expect, it } from 'vitest';
import { defaultPayloadConverter } from '@temporalio/common';
import { AesGcmCodec, generateCodecKey, parseCodecKeys } from '../common/codec.js';

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
