/**
 * Sealing passphrases for the worker: X25519 key pairs, their files, `sealSecret` (senders: our CLI, the codec
 * server) and `openSealed` (the worker's activities only). Node's crypto only; never imported by workflow code.
 *
 * Scheme `x25519-hkdf-sha256-aes-256-gcm-padded` (shape in common/sealed.ts):
 *   ephemeral X25519 key pair → ECDH with the recipient's public key → HKDF-SHA256
 *   (salt = ephemeral public ‖ recipient public, info = INFO) → 32-byte AES-256-GCM key, 12-byte random IV,
 *   AAD = scheme ‖ 0x00 ‖ keyId, so a sealed value cannot be relabelled for another key or scheme.
 *   The plaintext is padded first: length (2 bytes, big-endian) ‖ passphrase ‖ zeros, PADDED_BYTES in all, so every
 *   sealed passphrase has the same length whatever its own. The first scheme, `x25519-hkdf-sha256-aes-256-gcm`,
 *   encrypted the passphrase as it was: still opened, never sealed with.
 *
 * Files (JSON, so a key id travels with the key):
 *   private (RUNBOOK_SEALING_KEY_FILE, 0600, worker only):
 *     {"format":"runbook-sealing-keys/v1","keys":[{"keyId":"…","privateKey":"<base64 raw 32>","publicKey":"<base64 raw 32>","created":"…"}]}
 *     several keys = rotation: the first is current, every one still opens what was sealed for it.
 *   public (RUNBOOK_SEALING_PUBLIC_KEY_FILE, senders):
 *     {"format":"runbook-sealing-public-key/v1","keyId":"…","publicKey":"<base64 raw 32>"}
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SealedSecret, SEALING_SCHEME, UNPADDED_SCHEME } from './sealed.js';
import { describeIssues } from './validation.js';
import { readSettings, SETTINGS, type Settings } from './settings.js';

export const SCHEME = SEALING_SCHEME;
const INFO = Buffer.from('runbooks sealed-secret v1 x25519-hkdf-sha256-aes-256-gcm');
const PRIVATE_FORMAT = 'runbook-sealing-keys/v1';
const PUBLIC_FORMAT = 'runbook-sealing-public-key/v1';
const RAW_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/**
 * The longest passphrase sealed: far more than a person types (cryptsetup's own prompt stops at 512 characters),
 * and small enough that a wrong pipe (a file, a megabyte line) is refused before it is sealed and sent.
 */
export const MAX_SECRET_BYTES = 1024;
/** Every passphrase is sealed as this many bytes: its length, itself, zeros. */
const PADDED_BYTES = 2 + MAX_SECRET_BYTES;

export const PRIVATE_KEY_ENV = SETTINGS.sealingKeyFile.env;
export const PUBLIC_KEY_ENV = SETTINGS.sealingPublicKeyFile.env;

/** The public half: all a sender needs. */
export interface SealingPublicKey {
  keyId: string;
  /** Raw 32-byte X25519 public key. */
  publicKey: Buffer;
}

/** One worker key; the KeyObject keeps the private bytes out of plain Buffers we would have to wipe. */
export interface SealingKey extends SealingPublicKey {
  privateKey: KeyObject;
}

/** The worker's keys, current first. */
export type SealingKeyring = readonly SealingKey[];

/** Refused on purpose: no message of this class ever contains plaintext. */
export class SealedSecretError extends Error {
  override name = 'SealedSecretError';
}

// --- raw key <-> KeyObject -------------------------------------------------------------------------------

const b64url = (raw: Buffer) => raw.toString('base64url');

function publicKeyObject(raw: Buffer): KeyObject {
  if (raw.length !== RAW_KEY_BYTES) throw new SealedSecretError(`an X25519 public key is ${RAW_KEY_BYTES} bytes, got ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(raw) }, format: 'jwk' });
}

function privateKeyObject(raw: Buffer, publicRaw: Buffer): KeyObject {
  if (raw.length !== RAW_KEY_BYTES) throw new Error(`an X25519 private key is ${RAW_KEY_BYTES} bytes, got ${raw.length}`);
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(raw), x: b64url(publicRaw) }, format: 'jwk' });
}

function rawPublic(key: KeyObject): Buffer {
  const { x } = key.export({ format: 'jwk' });
  return Buffer.from(x!, 'base64url');
}

/** A key id that says which key it is: a short SHA-256 fingerprint of the public key. */
export function fingerprintKeyId(publicKey: Buffer): string {
  return `x25519-${createHash('sha256').update(publicKey).digest('hex').slice(0, 16)}`;
}

// --- key generation and files ----------------------------------------------------------------------------

export function generateSealingKey(keyId?: string): SealingKey {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const raw = rawPublic(publicKey);
  const id = keyId ?? fingerprintKeyId(raw);
  if (!KEY_ID_RE.test(id)) throw new Error(`sealing key id "${id}" must be 1-64 letters, digits, . _ -`);
  return { keyId: id, publicKey: raw, privateKey };
}

/** The private key file's text (current key first). */
export function formatPrivateKeyFile(keys: SealingKeyring): string {
  const entries = keys.map((k) => {
    const d = Buffer.from(k.privateKey.export({ format: 'jwk' }).d!, 'base64url');
    const entry = { keyId: k.keyId, privateKey: d.toString('base64'), publicKey: k.publicKey.toString('base64'), created: new Date().toISOString() };
    d.fill(0);
    return entry;
  });
  return `${JSON.stringify({ format: PRIVATE_FORMAT, keys: entries }, null, 2)}\n`;
}

export function formatPublicKeyFile(key: SealingPublicKey): string {
  return `${JSON.stringify({ format: PUBLIC_FORMAT, keyId: key.keyId, publicKey: key.publicKey.toString('base64') }, null, 2)}\n`;
}

function decodeRaw(value: unknown, what: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]+=*$/.test(value)) throw new Error(`${what} must be base64`);
  const raw = Buffer.from(value, 'base64');
  if (raw.length !== RAW_KEY_BYTES) throw new Error(`${what} must be ${RAW_KEY_BYTES} bytes, got ${raw.length}`);
  return raw;
}

function parseJson(text: string, where: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // no echo of the text: it may be a private key file
    throw new Error(`${where}: not JSON`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${where}: must be a JSON object`);
  return doc as Record<string, unknown>;
}

export function parsePrivateKeyFile(text: string, where = 'sealing key file'): SealingKey[] {
  const doc = parseJson(text, where);
  if (doc.format !== PRIVATE_FORMAT) throw new Error(`${where}: "format" must be "${PRIVATE_FORMAT}"`);
  if (!Array.isArray(doc.keys) || doc.keys.length === 0) throw new Error(`${where}: "keys" must list at least one key`);
  const seen = new Set<string>();
  return doc.keys.map((entry: Record<string, unknown>, i: number) => {
    const at = `${where}: keys[${i}]`;
    const keyId = entry?.keyId;
    if (typeof keyId !== 'string' || !KEY_ID_RE.test(keyId)) throw new Error(`${at}.keyId must be 1-64 letters, digits, . _ -`);
    if (seen.has(keyId)) throw new Error(`${at}.keyId "${keyId}" appears twice`);
    seen.add(keyId);
    const d = decodeRaw(entry.privateKey, `${at}.privateKey`);
    try {
      const claimed = decodeRaw(entry.publicKey, `${at}.publicKey`);
      const privateKey = privateKeyObject(d, claimed);
      // Recompute the public half: a file whose two halves disagree would seal for one key and open with another.
      const publicKey = rawPublic(createPublicKey(privateKey));
      if (!publicKey.equals(claimed)) throw new Error(`${at}.publicKey does not match its private key`);
      return { keyId, publicKey, privateKey };
    } finally {
      d.fill(0);
    }
  });
}

export function parsePublicKeyFile(text: string, where = 'sealing public key file'): SealingPublicKey {
  const doc = parseJson(text, where);
  // A sender given the private file by mistake must not quietly hold the worker's private key.
  if (doc.format === PRIVATE_FORMAT || 'privateKey' in doc || 'keys' in doc) {
    throw new Error(`${where} is a PRIVATE sealing key file; senders take the public one (${PUBLIC_FORMAT})`);
  }
  if (doc.format !== PUBLIC_FORMAT) throw new Error(`${where}: "format" must be "${PUBLIC_FORMAT}"`);
  if (typeof doc.keyId !== 'string' || !KEY_ID_RE.test(doc.keyId)) throw new Error(`${where}: keyId must be 1-64 letters, digits, . _ -`);
  return { keyId: doc.keyId, publicKey: decodeRaw(doc.publicKey, `${where}: publicKey`) };
}

/** The key files `npm start` creates in its data folder (RUNBOOK_DATA_DIR, default .data). */
export function sealingKeyPaths(dataDir: string): { privateFile: string; publicFile: string } {
  return { privateFile: join(dataDir, 'sealing.key'), publicFile: join(dataDir, 'sealing.pub') };
}

/** The public key file a sender uses: RUNBOOK_SEALING_PUBLIC_KEY_FILE, else <data dir>/sealing.pub when it exists. */
export function sealingPublicKeyPath(settings: Pick<Settings, 'sealingPublicKeyFile' | 'dataDir'>): string | undefined {
  if (settings.sealingPublicKeyFile) return settings.sealingPublicKeyFile;
  const { publicFile } = sealingKeyPaths(settings.dataDir);
  return existsSync(publicFile) ? publicFile : undefined;
}

/**
 * Creates the private (0600) and public key files if the private one does not exist yet; reuses it otherwise
 * (and rewrites a missing public file from it). Returns whether a key was created.
 */
export function ensureSealingKeyFiles(privateFile: string, publicFile: string): boolean {
  if (existsSync(privateFile)) {
    if (!existsSync(publicFile)) writeFileSync(publicFile, formatPublicKeyFile(parsePrivateKeyFile(readFileSync(privateFile, 'utf8'), privateFile)[0]!), { mode: 0o644 });
    return false;
  }
  const key = generateSealingKey();
  writeFileSync(privateFile, formatPrivateKeyFile([key]), { mode: 0o600, flag: 'wx' });
  writeFileSync(publicFile, formatPublicKeyFile(key), { mode: 0o644 });
  return true;
}

/** The worker's keys, from the file named by RUNBOOK_SEALING_KEY_FILE. */
export function sealingKeysFromFile(file: string | undefined): SealingKey[] {
  if (!file) throw new Error(`no sealing key: set ${PRIVATE_KEY_ENV} to the worker's private sealing key file (npm start creates .data/sealing.key)`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`${PRIVATE_KEY_ENV}=${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parsePrivateKeyFile(text, `${PRIVATE_KEY_ENV}=${file}`);
}

/** A sender's public key, from `sealingPublicKeyPath(settings)`: RUNBOOK_SEALING_PUBLIC_KEY_FILE, else <data dir>/sealing.pub. */
export function sealingPublicKeyFromFile(file: string | undefined): SealingPublicKey {
  if (!file) {
    throw new Error(`no sealing public key: set ${PUBLIC_KEY_ENV} to the worker's public sealing key file (npm start creates .data/sealing.pub)`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`${PUBLIC_KEY_ENV}=${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parsePublicKeyFile(text, `${PUBLIC_KEY_ENV}=${file}`);
}

/** sealingKeysFromFile with the file named in `env` (for callers that hold only an environment). */
export function sealingKeysFromEnv(env = process.env): SealingKey[] {
  return sealingKeysFromFile(readSettings(['sealingKeyFile'], env).sealingKeyFile);
}

/** sealingPublicKeyFromFile with the file named in `env` (for callers that hold only an environment). */
export function sealingPublicKeyFromEnv(env = process.env): SealingPublicKey {
  return sealingPublicKeyFromFile(sealingPublicKeyPath(readSettings(['sealingPublicKeyFile', 'dataDir'], env)));
}

// --- seal / open -----------------------------------------------------------------------------------------

function aad(scheme: string, keyId: string): Buffer {
  return Buffer.from(`${scheme}\0${keyId}`);
}

/** length ‖ secret ‖ zeros: one length for every passphrase. The caller zeroes the result. */
function pad(plain: Buffer): Buffer {
  const framed = Buffer.alloc(PADDED_BYTES);
  framed.writeUInt16BE(plain.length, 0);
  plain.copy(framed, 2);
  return framed;
}

/** The passphrase in a padded plaintext, as a new Buffer; `framed` is zeroed. */
function unpad(framed: Buffer, keyId: string): Buffer {
  try {
    const length = framed.length >= 2 ? framed.readUInt16BE(0) : -1;
    if (length < 0 || 2 + length > framed.length) throw new SealedSecretError(`sealed secret for key "${keyId}" is malformed: its padding does not hold its length`);
    return Buffer.from(framed.subarray(2, 2 + length));
  } finally {
    framed.fill(0);
  }
}

function deriveKey(shared: Buffer, ephemeralPublic: Buffer, recipientPublic: Buffer): Buffer {
  try {
    // An all-zero secret means a low-order point was sent: no key agreement happened.
    if (shared.every((b) => b === 0)) throw new SealedSecretError('sealed secret cannot be opened: invalid ephemeral public key');
    return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeralPublic, recipientPublic]), INFO, 32));
  } finally {
    shared.fill(0);
  }
}

/** Seals `plaintext` for the holder of `recipient`'s private key. A Buffer given here is left as is (the caller owns it). */
export function sealSecret(recipient: SealingPublicKey, plaintext: string | Buffer): SealedSecret {
  // The shape needs a non-empty ciphertext; and an empty passphrase is never what someone meant to send.
  if (plaintext.length === 0) throw new SealedSecretError('nothing to seal: the secret is empty');
  const plain = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  if (plain.length > MAX_SECRET_BYTES) {
    if (typeof plaintext === 'string') plain.fill(0);
    throw new SealedSecretError(`nothing sealed: the secret is longer than ${MAX_SECRET_BYTES} bytes`);
  }
  const recipientKey = publicKeyObject(recipient.publicKey);
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralPublic = rawPublic(ephemeral.publicKey);
  const key = deriveKey(diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipientKey }), ephemeralPublic, recipient.publicKey);
  const framed = pad(plain);
  try {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aad(SCHEME, recipient.keyId));
    const ciphertext = Buffer.concat([cipher.update(framed), cipher.final()]);
    return {
      sealed: SCHEME,
      keyId: recipient.keyId,
      ephemeralPublicKey: ephemeralPublic.toString('base64'),
      iv: iv.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
    };
  } finally {
    key.fill(0);
    framed.fill(0);
    if (typeof plaintext === 'string') plain.fill(0);
  }
}

/** Whether a value has the sealed-secret shape (it says nothing of whether it opens). */
export function isSealed(value: unknown): value is SealedSecret {
  return SealedSecret.safeParse(value).success;
}

/**
 * Opens a sealed secret with whichever of `keys` it names. The caller owns the returned Buffer and must zero it.
 * Errors name the key id and what failed, never any plaintext (none exists before the tag checks out).
 */
export function openSealed(sealed: unknown, keys: SealingKeyring): Buffer {
  const parsed = SealedSecret.safeParse(sealed);
  if (!parsed.success) {
    // Field names and rules only: a value is never echoed (a plaintext passphrase could be one).
    const shaped = typeof sealed === 'object' && sealed !== null && 'sealed' in sealed;
    throw new SealedSecretError(shaped
      ? `sealed secret cannot be opened: malformed (${describeIssues(parsed.error).replaceAll('\n', '; ')})`
      : 'not a sealed secret: expected {sealed, keyId, ephemeralPublicKey, iv, ciphertext, tag}');
  }
  const s = parsed.data;
  const key = keys.find((k) => k.keyId === s.keyId);
  if (!key) {
    throw new SealedSecretError(
      `sealed secret cannot be opened: it is sealed for key "${s.keyId}", which this worker does not hold (it holds: ${keys.map((k) => k.keyId).join(', ') || 'none'})`,
    );
  }
  const ephemeralPublic = Buffer.from(s.ephemeralPublicKey, 'base64');
  const iv = Buffer.from(s.iv, 'base64');
  const tag = Buffer.from(s.tag, 'base64');
  if (ephemeralPublic.length !== RAW_KEY_BYTES || iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
    throw new SealedSecretError(`sealed secret cannot be opened: malformed (ephemeral key ${RAW_KEY_BYTES} bytes, iv ${IV_BYTES}, tag ${TAG_BYTES} expected)`);
  }
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: key.privateKey, publicKey: publicKeyObject(ephemeralPublic) });
  } catch {
    throw new SealedSecretError('sealed secret cannot be opened: invalid ephemeral public key');
  }
  const aesKey = deriveKey(shared, ephemeralPublic, key.publicKey);
  let body: Buffer | undefined;
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', aesKey, iv);
    decipher.setAAD(aad(s.sealed, s.keyId));
    decipher.setAuthTag(tag);
    // GCM hands out bytes before the tag is checked: they are wiped below if final() refuses.
    body = decipher.update(Buffer.from(s.ciphertext, 'base64'));
    const tail = decipher.final();
    plain = Buffer.concat([body, tail]);
    body.fill(0);
  } catch {
    body?.fill(0);
    throw new SealedSecretError(`sealed secret cannot be opened with key "${s.keyId}": it was altered, or sealed for another key with the same id (authentication failed)`);
  } finally {
    aesKey.fill(0);
  }
  return s.sealed === UNPADDED_SCHEME ? plain : unpad(plain, s.keyId);
}

/** Why a passphrase cannot be typed to cryptsetup, or undefined when it can. Never quotes the passphrase. */
export function passphraseProblem(passphrase: Buffer): string | undefined {
  if (passphrase.length === 0) return 'the passphrase is empty';
  if (passphrase.length > MAX_SECRET_BYTES) return `the passphrase is longer than ${MAX_SECRET_BYTES} bytes`;
  if (passphrase.includes(0x0a) || passphrase.includes(0x0d)) {
    return 'the passphrase contains a line break: cryptsetup reads one line from stdin and would cut it there';
  }
  if (passphrase.includes(0x00)) return 'the passphrase contains a NUL byte: cryptsetup would cut it there';
  return undefined;
}
