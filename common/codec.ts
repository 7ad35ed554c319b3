/**
 * AES-256-GCM payload encryption: inputs, results, Update arguments and error messages are ciphertext on the
 * Temporal server. The key id travels in the payload metadata, so keys can rotate: encode with the current key,
 * decode with whichever key the payload names.
 *
 * A worker's codec refuses what it did not decrypt (`refuseUnencrypted`): such a payload reaches workflow code as
 * a NotEncrypted value, without its data, and the run or Update is refused (common/payload-converter.ts). Clients
 * and the codec server pass it through as it is, so a person can read what was sent.
 *
 * Keys come from RUNBOOK_CODEC_KEY or the file RUNBOOK_CODEC_KEY_FILE, as `id:base64key[,id:base64key…]`;
 * the first one is the current key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Payload, type PayloadCodec, METADATA_ENCODING_KEY } from '@temporalio/common';
import proto from '@temporalio/proto'; // CommonJS: no named exports under Node's ESM loader
import { notEncryptedPayload } from './payload-converter.js';
import type { CodecKeySettings } from './settings.js';

const { temporal } = proto;

const ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface CodecKey {
  id: string;
  key: Buffer;
}

export class AesGcmCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;

  constructor(private readonly keys: readonly CodecKey[], private readonly options: { refuseUnencrypted?: boolean } = {}) {
    if (keys.length === 0) throw new Error('the payload codec needs at least one key');
    for (const { id, key } of keys) if (key.length !== 32) throw new Error(`codec key "${id}" must be 32 bytes (AES-256)`);
    this.byId = new Map(keys.map(({ id, key }) => [id, key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keys[0]!;
    return payloads.map((payload) => ({
      metadata: { [METADATA_ENCODING_KEY]: Buffer.from(ENCODING), [KEY_ID]: Buffer.from(id) },
      data: encrypt(temporal.api.common.v1.Payload.encode(payload).finish(), key),
    }));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (Buffer.from(payload.metadata?.[METADATA_ENCODING_KEY] ?? []).toString() !== ENCODING) {
        return this.options.refuseUnencrypted ? notEncryptedPayload() : payload;
      }
      const id = Buffer.from(payload.metadata?.[KEY_ID] ?? []).toString();
      const key = this.byId.get(id);
      if (!key) throw new Error(`payload encrypted with unknown codec key "${id}"`);
      return temporal.api.common.v1.Payload.decode(decrypt(payload.data ?? new Uint8Array(), key));
    });
  }
}

function encrypt(plain: Uint8Array, key: Buffer): Uint8Array {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

function decrypt(sealed: Uint8Array, key: Buffer): Uint8Array {
  const data = Buffer.from(sealed);
  const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
  decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
  return Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
}

/** Parse `id:base64[,id:base64…]`. */
export function parseCodecKeys(text: string): CodecKey[] {
  return text
    .split(/[,\n]/)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const at = part.indexOf(':');
      if (at <= 0) throw new Error('codec key must look like "k1:<base64 of 32 bytes>"');
      return { id: part.slice(0, at), key: Buffer.from(part.slice(at + 1), 'base64') };
    });
}

export function generateCodecKey(id = 'k1'): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}

/** The keys named by the settings (RUNBOOK_CODEC_KEY, else RUNBOOK_CODEC_KEY_FILE; see common/settings.ts). */
export function codecKeys(settings: CodecKeySettings): CodecKey[] {
  if (settings.codecKey) return parseCodecKeys(settings.codecKey);
  if (settings.codecKeyFile) return parseCodecKeys(readFileSync(settings.codecKeyFile, 'utf8'));
  throw new Error('no payload codec key: set RUNBOOK_CODEC_KEY or RUNBOOK_CODEC_KEY_FILE (npm start creates .data/codec.key)');
}
