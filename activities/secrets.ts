/**
 * Passphrases inside activities: the only place a sealed secret is opened. The worker loads its sealing keys once
 * (`setSealingKeys(loadSealingKeys())` in worker/main.ts), so a LUKS activity only writes
 *
 *   await withPassphrase(answer.passphrase, (passphrase) => remote.run(host, cmd, { stdin: passphrase }));
 *
 * The Buffer lives for the duration of `fn` and is zeroed afterwards; whatever `fn` throws is scrubbed of the
 * passphrase before it can reach a log, the history or an operator's screen.
 */
import { REDACTED } from './ssh/pool.js';
import {
  SealedSecretError,
  openSealed,
  passphraseProblem,
  sealingKeysFromEnv,
  PRIVATE_KEY_ENV,
  type SealingKeyring,
} from '../common/sealing.js';
import { failure } from '../common/failures.js';

let keyring: SealingKeyring | undefined;

/** Loads the worker's private sealing keys from RUNBOOK_SEALING_KEY_FILE (throws a message naming it if missing). */
export function loadSealingKeys(env = process.env): SealingKeyring {
  return sealingKeysFromEnv(env);
}

/** Sets the keys `withPassphrase(sealed, fn)` opens with: once, at worker start. */
export function setSealingKeys(keys: SealingKeyring): void {
  if (keys.length === 0) throw new Error('setSealingKeys: no key given');
  keyring = keys;
}

/** The keys set by the worker; throws (non-retryable: a restart with the key is needed) when there are none. */
export function sealingKeys(): SealingKeyring {
  if (!keyring) {
    throw failure('NoSealingKey', `this worker has no sealing key, so it cannot open passphrases: start it with ${PRIVATE_KEY_ENV}`);
  }
  return keyring;
}

/** The key ids this worker holds (none: no key set); ids only, for the Update validator's check. */
export function heldKeyIds(): string[] {
  return keyring?.map((k) => k.keyId) ?? [];
}

export function withPassphrase<T>(sealed: unknown, fn: (passphrase: Buffer) => Promise<T>): Promise<T>;
export function withPassphrase<T>(sealed: unknown, keys: SealingKeyring, fn: (passphrase: Buffer) => Promise<T>): Promise<T>;
export async function withPassphrase<T>(
  sealed: unknown,
  keysOrFn: SealingKeyring | ((passphrase: Buffer) => Promise<T>),
  maybeFn?: (passphrase: Buffer) => Promise<T>,
): Promise<T> {
  const keys = typeof keysOrFn === 'function' ? sealingKeys() : keysOrFn;
  const fn = typeof keysOrFn === 'function' ? keysOrFn : maybeFn!;
  let passphrase: Buffer;
  try {
    passphrase = openSealed(sealed, keys);
  } catch (error) {
    // Opening again gives the same answer: no retry. SealedSecretError messages never hold plaintext.
    const message = error instanceof SealedSecretError ? error.message : 'sealed secret cannot be opened';
    throw failure('SealedSecretRefused', message);
  }
  try {
    const problem = passphraseProblem(passphrase);
    if (problem) throw failure('PassphraseRefused', `${problem}; type it again without it`);
    return await fn(passphrase);
  } catch (error) {
    throw scrubbed(error, passphrase);
  } finally {
    passphrase.fill(0);
  }
}

/** The error with every occurrence of the secret replaced by [redacted], in its message, stack, details and causes. */
function scrubbed(error: unknown, secret: Buffer): unknown {
  const needles = [secret.toString('utf8'), secret.toString('latin1'), secret.toString('base64')].filter((s) => s.length > 0);
  const clean = (text: string) => needles.reduce((out, needle) => out.split(needle).join(REDACTED), text);
  const seen = new Set<unknown>();
  const scrubValue = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return clean(value);
    if (!value || typeof value !== 'object' || seen.has(value) || depth > 8) return value;
    seen.add(value);
    if (Buffer.isBuffer(value) || value instanceof Uint8Array) return value.length && Buffer.from(value).includes(secret) ? REDACTED : value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = scrubValue(value[i], depth + 1);
      return value;
    }
    if (value instanceof Error) {
      // message and stack are own, writable properties on Error instances (ApplicationFailure included)
      value.message = clean(value.message);
      if (value.stack) value.stack = clean(value.stack);
      if ('details' in value) (value as { details: unknown }).details = scrubValue((value as { details: unknown }).details, depth + 1);
      if (value.cause !== undefined) value.cause = scrubValue(value.cause, depth + 1);
      return value;
    }
    for (const [k, v] of Object.entries(value)) {
      try {
        (value as Record<string, unknown>)[k] = scrubValue(v, depth + 1);
      } catch {
        /* read-only property: leave it */
      }
    }
    return value;
  };
  if (error instanceof Error) return scrubValue(error, 0);
  // A thrown non-Error (string, object): make it an Error whose text is scrubbed.
  return new Error(clean(typeof error === 'string' ? error : safeString(error)));
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
