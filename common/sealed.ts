/**
 * A sealed secret: a passphrase encrypted with the worker's public key by whoever sends it (our CLI, the codec
 * server's /encode). Only the activity that writes it to SSH stdin opens it. This module is the shape only, with
 * no crypto and no I/O, so that workflow code (Update validators) can check that a value is sealed.
 */
import { z } from 'zod';

/** The scheme senders seal with: the passphrase padded to one length before it is encrypted (common/sealing.ts). */
export const SEALING_SCHEME = 'x25519-hkdf-sha256-aes-256-gcm-padded';
/** The first scheme, unpadded (the ciphertext's length is the passphrase's): still opened, never sealed with. */
export const UNPADDED_SCHEME = 'x25519-hkdf-sha256-aes-256-gcm';

const Base64 = z.string().regex(/^[A-Za-z0-9+/]+=*$/, { message: 'must be base64' });

export const SealedSecret = z.object({
  /** The scheme: ephemeral X25519 key agreement, HKDF-SHA256, AES-256-GCM (of the padded passphrase). */
  sealed: z.enum([SEALING_SCHEME, UNPADDED_SCHEME]),
  /** Which worker key it is sealed for (key rotation). */
  keyId: z.string().min(1).max(64),
  /** The sender's ephemeral X25519 public key, raw 32 bytes. */
  ephemeralPublicKey: Base64,
  iv: Base64,
  ciphertext: Base64,
  tag: Base64,
}, { message: 'must be a sealed secret (use `npx runbook unlock`, or the Temporal UI with our codec endpoint)' }).strict();
export type SealedSecret = z.infer<typeof SealedSecret>;

/** Field names that carry secrets: the codec server's /encode seals them, /decode never shows them. */
export const SECRET_FIELDS = ['passphrase', 'oldPassphrase', 'newPassphrase'] as const;
