import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { SealedSecret, UNPADDED_SCHEME } from '../common/sealed.js';
import {
  MAX_SECRET_BYTES,
  SCHEME,
  ensureSealingKeyFiles,
  formatPrivateKeyFile,
  formatPublicKeyFile,
  generateSealingKey,
  openSealed,
  parsePrivateKeyFile,
  parsePublicKeyFile,
  sealSecret,
  sealingKeysFromEnv,
  sealingPublicKeyFromEnv,
  type SealingKey,
} from '../common/sealing.js';
import { loadSealingKeys, setSealingKeys, withPassphrase } from '../activities/secrets.js';

const SECRET = 'correct horse battery staple';

/** Every message an error carries, down its causes. */
function allText(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, i = 0; e && i < 10; e = (e as { cause?: unknown }).cause, i++) {
    parts.push(String((e as Error).message), String((e as Error).stack ?? ''), JSON.stringify((e as { details?: unknown }).details ?? null));
  }
  return parts.join('\n');
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const b64flip = (b64: string, index = 0) => {
  const raw = Buffer.from(b64, 'base64');
  raw[index] = raw[index]! ^ 1;
  return raw.toString('base64');
};

describe('sealed secrets (X25519 + HKDF-SHA256 + AES-256-GCM)', () => {
  const key = generateSealingKey();

  it('round-trips, with the shape the workflow validator accepts and no plaintext in it', () => {
    const sealed = sealSecret(key, SECRET);
    expect(SealedSecret.safeParse(sealed).success).toBe(true);
    expect(sealed.keyId).toBe(key.keyId);
    expect(JSON.stringify(sealed)).not.toContain('horse');
    expect(openSealed(sealed, [key]).toString()).toBe(SECRET);
    // fresh ephemeral key and IV each time
    expect(sealSecret(key, SECRET).ciphertext).not.toBe(sealed.ciphertext);
    expect(sealSecret(key, Buffer.from('bytes ü')).ciphertext).toBeTruthy();
    expect(openSealed(sealSecret(key, Buffer.from('bytes ü')), [key]).toString()).toBe('bytes ü');
  });

  it('refuses another key under the same id, tampered fields, an unknown id and a non-sealed value, without plaintext', () => {
    const sealed = sealSecret(key, SECRET);
    const impostor: SealingKey = { ...generateSealingKey(), keyId: key.keyId };
    const cases: [string, unknown, SealingKey[], RegExp][] = [
      ['wrong key', sealed, [impostor], /authentication failed/],
      ['ciphertext', { ...sealed, ciphertext: b64flip(sealed.ciphertext) }, [key], /authentication failed/],
      ['tag', { ...sealed, tag: b64flip(sealed.tag) }, [key], /authentication failed/],
      ['iv', { ...sealed, iv: b64flip(sealed.iv) }, [key], /authentication failed/],
      ['ephemeral key', { ...sealed, ephemeralPublicKey: b64flip(sealed.ephemeralPublicKey, 3) }, [key], /authentication failed|invalid ephemeral/],
      ['keyId relabelled', { ...sealed, keyId: 'other' }, [key, { ...key, keyId: 'other' }], /authentication failed/],
      ['unknown keyId', { ...sealed, keyId: 'gone' }, [key], /sealed for key "gone", which this worker does not hold \(it holds: x25519-/],
      ['short iv', { ...sealed, iv: 'AAAA' }, [key], /malformed/],
      ['plaintext', { passphrase: SECRET }, [key], /not a sealed secret/],
      ['low-order point', { ...sealed, ephemeralPublicKey: Buffer.alloc(32).toString('base64') }, [key], /invalid ephemeral public key/],
    ];
    for (const [what, value, keys, message] of cases) {
      const error = caught(() => openSealed(value, keys));
      expect(error, what).toBeInstanceOf(Error);
      expect((error as Error).message, what).toMatch(message);
      expect(allText(error), what).not.toContain('horse');
    }
  });

  it('pads before sealing: every passphrase, 1 byte or the longest, seals to the same length', () => {
    const lengths = new Set(['x', SECRET, 'ü'.repeat(200), 'p'.repeat(MAX_SECRET_BYTES)].map((p) => {
      const sealed = sealSecret(key, p);
      expect(sealed.sealed).toBe(SCHEME);
      expect(openSealed(sealed, [key]).toString()).toBe(p);
      return JSON.stringify(sealed).length;
    }));
    expect(lengths.size).toBe(1);
    expect(() => sealSecret(key, 'p'.repeat(MAX_SECRET_BYTES + 1))).toThrow(`longer than ${MAX_SECRET_BYTES} bytes`);
    // The scheme is bound to the ciphertext: a padded value relabelled as unpadded does not open.
    expect(() => openSealed({ ...sealSecret(key, SECRET), sealed: UNPADDED_SCHEME }, [key])).toThrow(/authentication failed/);
  });

  it('still opens a value sealed by the first, unpadded scheme (a fixture sealed by that code)', () => {
    const fixture = JSON.parse(readFileSync(new URL('./fixtures/sealed-unpadded.json', import.meta.url), 'utf8'));
    expect(fixture.sealed.sealed).toBe(UNPADDED_SCHEME);
    expect(SealedSecret.safeParse(fixture.sealed).success).toBe(true);
    const keys = parsePrivateKeyFile(JSON.stringify(fixture.privateKeyFile));
    expect(openSealed(fixture.sealed, keys).toString()).toBe(fixture.plaintext);
    expect(() => openSealed({ ...fixture.sealed, sealed: SCHEME }, keys)).toThrow(/authentication failed/);
  });

  it('rotates: the worker holds old and new keys and opens by key id; senders seal for the current one', () => {
    const old = generateSealingKey('s1');
    const current = generateSealingKey('s2');
    const file = parsePrivateKeyFile(formatPrivateKeyFile([current, old]));
    expect(file.map((k) => k.keyId)).toEqual(['s2', 's1']);
    expect(openSealed(sealSecret(old, 'old one'), file).toString()).toBe('old one');
    expect(openSealed(sealSecret(current, 'new one'), file).toString()).toBe('new one');
    expect(() => openSealed(sealSecret(old, 'x'), [current])).toThrow(/sealed for key "s1".*holds: s2/);
  });

  it('key files: JSON with key ids, 0600 private file created once, public file refused when it is the private one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-sealing-'));
    const priv = join(dir, 'sealing.key');
    const pub = join(dir, 'sealing.pub');
    expect(ensureSealingKeyFiles(priv, pub)).toBe(true);
    expect(statSync(priv).mode & 0o777).toBe(0o600);
    const before = readFileSync(priv, 'utf8');
    expect(ensureSealingKeyFiles(priv, pub)).toBe(false);
    expect(readFileSync(priv, 'utf8')).toBe(before);

    const keys = sealingKeysFromEnv({ RUNBOOK_SEALING_KEY_FILE: priv });
    const publicKey = sealingPublicKeyFromEnv({ RUNBOOK_SEALING_PUBLIC_KEY_FILE: pub });
    expect(publicKey.keyId).toBe(keys[0]!.keyId);
    expect(openSealed(sealSecret(publicKey, SECRET), keys).toString()).toBe(SECRET);

    expect(() => sealingPublicKeyFromEnv({ RUNBOOK_SEALING_PUBLIC_KEY_FILE: priv })).toThrow(/PRIVATE sealing key file/);
    expect(() => loadSealingKeys({})).toThrow(/RUNBOOK_SEALING_KEY_FILE/);
    expect(() => parsePublicKeyFile(formatPublicKeyFile({ keyId: 'bad id!', publicKey: Buffer.alloc(32) }))).toThrow(/keyId/);
    const mismatched = JSON.parse(before);
    mismatched.keys[0].publicKey = generateSealingKey().publicKey.toString('base64');
    writeFileSync(priv, JSON.stringify(mismatched));
    expect(() => sealingKeysFromEnv({ RUNBOOK_SEALING_KEY_FILE: priv })).toThrow(/does not match its private key/);
    writeFileSync(priv, 'not json with secrets inside');
    expect(allText(caught(() => sealingKeysFromEnv({ RUNBOOK_SEALING_KEY_FILE: priv })))).not.toContain('secrets inside');
  });
});

describe('withPassphrase', () => {
  const key = generateSealingKey();

  it('hands the passphrase to fn as a Buffer and zeroes it afterwards', async () => {
    let seen: Buffer | undefined;
    const result = await withPassphrase(sealSecret(key, SECRET), [key], async (p) => {
      seen = p;
      return p.toString();
    });
    expect(result).toBe(SECRET);
    expect(seen!.every((b) => b === 0)).toBe(true);
  });

  it('uses the keys set by the worker when none are passed', async () => {
    setSealingKeys([key]);
    expect(await withPassphrase(sealSecret(key, SECRET), async (p) => p.length)).toBe(SECRET.length);
  });

  it('refuses a passphrase with a newline or NUL, naming why and not what', async () => {
    expect(() => sealSecret(key, '')).toThrow(/empty/);
    for (const bad of [`${SECRET}\nmore`, `${SECRET}\r`, `${SECRET}\0`]) {
      let called = false;
      const error = await rejected(withPassphrase(sealSecret(key, bad), [key], async () => (called = true)));
      expect(called).toBe(false);
      expect(error).toBeInstanceOf(ApplicationFailure);
      expect((error as ApplicationFailure).nonRetryable).toBe(true);
      expect((error as Error).message).toMatch(/line break|NUL/);
      expect(allText(error)).not.toContain('horse');
    }
  });

  it('scrubs the passphrase from whatever fn throws, keeping the failure type', async () => {
    const thrown = ApplicationFailure.retryable(`cryptsetup said: ${SECRET} is wrong`, 'WrongPassphrase', { echoed: SECRET });
    (thrown as { cause?: unknown }).cause = new Error(`inner ${SECRET}`);
    const error = await rejected(withPassphrase(sealSecret(key, SECRET), [key], async () => { throw thrown; }));
    expect(error).toBe(thrown);
    expect((error as ApplicationFailure).type).toBe('WrongPassphrase');
    expect((error as Error).message).toBe('cryptsetup said: [redacted] is wrong');
    expect(allText(error)).not.toContain('horse');

    const fromString = await rejected(withPassphrase(sealSecret(key, SECRET), [key], async () => { throw `oops ${SECRET}`; }));
    expect(allText(fromString)).not.toContain('horse');
  });

  it('turns a sealed secret that does not open into a non-retryable failure without plaintext', async () => {
    const error = await rejected(withPassphrase(sealSecret(generateSealingKey(), SECRET), [key], async () => 1));
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).type).toBe('SealedSecretRefused');
    expect((error as ApplicationFailure).nonRetryable).toBe(true);
    expect(allText(error)).not.toContain('horse');
  });
});
