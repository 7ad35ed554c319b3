/**
 * OpenSSH signatures (`ssh-keygen -Y sign`, the SSHSIG format of OpenSSH's PROTOCOL.sshsig), verified in pure JS:
 * the workflow's Update validator runs in Temporal's sandbox, which has no node:crypto and no Buffer. Ed25519 keys
 * only (what we ask people to use); another key type is refused by name.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';

export class SshSigError extends Error {
  override name = 'SshSigError';
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 to bytes (no Buffer or atob in the workflow sandbox). */
export function fromBase64(text: string): Uint8Array {
  const clean = text.replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(clean) || clean.length % 4 === 1) throw new SshSigError('not base64');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0, value = 0, at = 0;
  for (const c of clean) {
    value = (value << 6) | B64.indexOf(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  return out;
}

/** SSH wire strings: a uint32 length, then the bytes. */
class Reader {
  private at = 0;
  constructor(private readonly bytes: Uint8Array) {}
  raw(n: number): Uint8Array {
    if (this.at + n > this.bytes.length) throw new SshSigError('truncated');
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint32(): number {
    const b = this.raw(4);
    return ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
  }
  string(): Uint8Array {
    return this.raw(this.uint32());
  }
  text(): string {
    return new TextDecoder().decode(this.string());
  }
  get done(): boolean {
    return this.at === this.bytes.length;
  }
}

function sshString(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The raw 32-byte key of an `ssh-ed25519 AAAA… comment` line. */
export function ed25519KeyOf(line: string): Uint8Array {
  const [type, blob] = line.trim().split(/\s+/);
  if (type !== 'ssh-ed25519' || !blob) throw new SshSigError(`only ssh-ed25519 keys sign approvals (this one is ${type ?? 'empty'})`);
  return ed25519Blob(fromBase64(blob));
}

function ed25519Blob(blob: Uint8Array): Uint8Array {
  const r = new Reader(blob);
  const type = r.text();
  if (type !== 'ssh-ed25519') throw new SshSigError(`only ssh-ed25519 keys sign approvals (this signature's key is ${type})`);
  const key = r.string();
  if (key.length !== 32 || !r.done) throw new SshSigError('malformed ssh-ed25519 key');
  return key;
}

export interface SshSignature {
  /** The signer's raw ed25519 key. */
  publicKey: Uint8Array;
  namespace: string;
  hashAlgorithm: 'sha256' | 'sha512';
  signature: Uint8Array;
}

/** Parse the armored text `ssh-keygen -Y sign` writes. */
export function parseSshSignature(armored: string): SshSignature {
  const m = /^\s*-----BEGIN SSH SIGNATURE-----([A-Za-z0-9+/=\s]+)-----END SSH SIGNATURE-----\s*$/.exec(armored);
  if (!m) throw new SshSigError('not an SSH signature (-----BEGIN SSH SIGNATURE----- … -----END SSH SIGNATURE-----)');
  const r = new Reader(fromBase64(m[1]!.replace(/\s+/g, '')));
  if (new TextDecoder().decode(r.raw(6)) !== 'SSHSIG') throw new SshSigError('not an SSHSIG blob');
  if (r.uint32() !== 1) throw new SshSigError('unknown SSHSIG version');
  const publicKey = ed25519Blob(r.string());
  const namespace = r.text();
  r.string(); // reserved
  const hashAlgorithm = r.text();
  if (hashAlgorithm !== 'sha256' && hashAlgorithm !== 'sha512') throw new SshSigError(`unknown hash algorithm ${hashAlgorithm}`);
  const sig = new Reader(r.string());
  if (sig.text() !== 'ssh-ed25519') throw new SshSigError('not an ssh-ed25519 signature');
  const signature = sig.string();
  if (signature.length !== 64 || !sig.done || !r.done) throw new SshSigError('malformed signature');
  return { publicKey, namespace, hashAlgorithm, signature };
}

/**
 * Whether `armored` is `keyLine`'s signature of `message` in `namespace`. Throws SshSigError with why when it is
 * not one of ours at all; returns which check failed otherwise.
 */
export function verifySshSignature(armored: string, keyLine: string, namespace: string, message: string): 'ok' | 'other-key' | 'other-namespace' | 'bad-signature' {
  const sig = parseSshSignature(armored);
  if (!equal(sig.publicKey, ed25519KeyOf(keyLine))) return 'other-key';
  if (sig.namespace !== namespace) return 'other-namespace';
  const digest = (sig.hashAlgorithm === 'sha256' ? sha256 : sha512)(utf8ToBytes(message));
  const signed = concat(
    utf8ToBytes('SSHSIG'), sshString(utf8ToBytes(namespace)), sshString(new Uint8Array(0)),
    sshString(utf8ToBytes(sig.hashAlgorithm)), sshString(digest),
  );
  try {
    return ed25519.verify(sig.signature, signed, sig.publicKey) ? 'ok' : 'bad-signature';
  } catch {
    return 'bad-signature';
  }
}
