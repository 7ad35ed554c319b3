/**
 * A sealed secret: a passphrase encrypted with the worker's public key by whoever sends it (our CLI, the codec
 * server's /encode). Only the activity that writes it to SSH stdin opens it. This module is the shape only, with
 * no crypto and no I/O, so that workflow code (Update validators) can check that a value is sealed.
 */
import { z } from 'zod';
import { deferred } from './validation.js';

/** The scheme senders seal with: the passphrase padded to one length before it is encrypted (common/sealing.ts). */
export const SEALING_SCHEME = 'x25519-hkdf-sha256-aes-256-gcm-padded';
/** The first scheme, unpadded (the ciphertext's length is the passphrase's): still opened, never sealed with. */
export const UNPADDED_SCHEME = 'x25519-hkdf-sha256-aes-256-gcm';

const Base64 = deferred(() => z.string().regex(/^[A-Za-z0-9+/]+=*$/, { message: 'must be base64' }));
/** Base64 of exactly `bytes` bytes: what the scheme's fixed-size fields must be. */
const Base64Of = (bytes: number) => Base64.length(4 * Math.ceil(bytes / 3), { message: `must be base64 of ${bytes} bytes` });

/**
 * The largest ciphertext accepted: 4096 base64 characters, 3 KiB. cryptsetup reads at most 512 characters of an
 * interactive passphrase; the rest is room for padding. A larger value is refused before it reaches history.
 */
export const MAX_SEALED_CIPHERTEXT = 4096;

/** A sealing key id: what common/sealing.ts generates and its key files hold. */
export const SealingKeyId = deferred(() => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: 'must be a sealing key id: 1-64 letters, digits, . _ -' }));

export const SealedSecret = deferred(() => z.object({
  /** The scheme: ephemeral X25519 key agreement, HKDF-SHA256, AES-256-GCM (of the padded passphrase). */
  sealed: z.enum([SEALING_SCHEME, UNPADDED_SCHEME]),
  /** Which worker key it is sealed for (key rotation). */
  keyId: SealingKeyId,
  /** The sender's ephemeral X25519 public key, raw 32 bytes. */
  ephemeralPublicKey: Base64Of(32),
  iv: Base64Of(12),
  ciphertext: Base64.max(MAX_SEALED_CIPHERTEXT, { message: `must be at most ${MAX_SEALED_CIPHERTEXT} characters: too large for a passphrase` }),
  tag: Base64Of(16),
}, { message: 'must be a sealed secret (use `npx runbook unlock`, or the Temporal UI with our codec endpoint)' }).strict());
export type SealedSecret = z.infer<typeof SealedSecret>;

/** Field names that carry secrets: the codec server's /encode seals them, /decode never shows them. */
export const SECRET_FIELDS = ['passphrase', 'oldPassphrase', 'newPassphrase'] as const;
