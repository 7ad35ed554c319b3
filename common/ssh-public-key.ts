/**
 * The SSH public key a member sends with a VM request (attachment or body): found, parsed and judged before it
 * can reach an authorized_keys file. Exactly one key line, no options (`command=`, `from=`… would change what the
 * key may do), a type we accept (ssh-ed25519, ecdsa-sha2-nistp*, ssh-rsa of at least 3072 bits), a blob that
 * decodes to what its type says. A PRIVATE key is refused, and flagged: the member must revoke it.
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { KEY_TYPES, type RequestKey } from './requests.js';

/** Fingerprint as `ssh-keygen -lf` prints it; line `type blob comment`, the comment reduced to safe characters. */
export type MemberKey = z.infer<typeof RequestKey>;

export type KeyVerdict =
  | { ok: true; key: MemberKey }
  | { ok: false; reason: string; privateKey: boolean };

const MIN_RSA_BITS = 3072;
/** An RSA key of 16384 bits is ~2.8 KB in base64; anything longer is not a key we take. */
const MAX_BLOB_CHARS = 4096;

const PRIVATE_MARKERS = [
  /-----BEGIN (?:OPENSSH|RSA|DSA|EC|ENCRYPTED)? ?PRIVATE KEY-----/,
  /PuTTY-User-Key-File-\d/,
  /-----BEGIN SSH2 ENCRYPTED PRIVATE KEY-----/,
];

const KNOWN_TYPE = /(?:^|[\s,"])((?:ssh|ecdsa|sk)-[a-z0-9@.-]+)\s+(AAAA[A-Za-z0-9+/]+=*)/g;

/** Reads SSH wire-format strings (RFC 4251 §5) off a blob; throws on a short or overlong field. */
function reader(blob: Buffer) {
  let at = 0;
  return {
    string(): Buffer {
      if (at + 4 > blob.length) throw new Error('truncated');
      const length = blob.readUInt32BE(at);
      if (length > blob.length - at - 4) throw new Error('truncated');
      const value = blob.subarray(at + 4, at + 4 + length);
      at += 4 + length;
      return value;
    },
    done: () => at === blob.length,
  };
}

/** The key's size in bits, or why its blob is not what its type says. */
function bitsOf(type: MemberKey['type'], blob: Buffer): number | string {
  try {
    const r = reader(blob);
    if (r.string().toString('latin1') !== type) return 'the key data does not match its type';
    let bits: number;
    if (type === 'ssh-ed25519') {
      if (r.string().length !== 32) return 'an ed25519 key is 32 bytes';
      bits = 256;
    } else if (type === 'ssh-rsa') {
      r.string(); // e
      const n = r.string();
      const significant = n[0] === 0 ? n.subarray(1) : n;
      bits = significant.length * 8 - Math.clz32(significant[0] ?? 0) + 24;
      if (!significant.length) return 'the RSA modulus is empty';
    } else {
      const curve = r.string().toString('latin1');
      if (`ecdsa-sha2-${curve}` !== type) return 'the ECDSA curve does not match its type';
      r.string(); // Q
      bits = Number(curve.slice('nistp'.length));
    }
    if (!r.done()) return 'the key data has trailing bytes';
    return bits;
  } catch {
    return 'the key data is truncated';
  }
}

/**
 * Judge the texts of a request (body and text attachments): the one public key in them, or why not.
 * Any private key anywhere wins: it is refused even beside a good public key.
 */
export function judgeKeyTexts(texts: string[]): KeyVerdict {
  const all = texts.join('\n');
  if (PRIVATE_MARKERS.some((m) => m.test(all))) {
    return { ok: false, privateKey: true, reason: 'the mail holds a PRIVATE SSH key: it is compromised and must be revoked; send the public key (the .pub file) only' };
  }
  const found: { type: string; blob: string; lineStart: string; rest: string }[] = [];
  for (const text of texts) {
    for (const rawLine of text.split(/\r?\n/)) {
      const line = rawLine.trim();
      for (const m of line.matchAll(KNOWN_TYPE)) {
        const before = line.slice(0, m.index + m[0].indexOf(m[1]!)).trim();
        found.push({ type: m[1]!, blob: m[2]!, lineStart: before, rest: line.slice(m.index + m[0].length).trim() });
      }
    }
  }
  const distinct = [...new Map(found.map((f) => [f.blob, f])).values()];
  if (distinct.length === 0) return { ok: false, privateKey: false, reason: 'no SSH public key found (attach your .pub file or paste its line in the body)' };
  if (distinct.length > 1) return { ok: false, privateKey: false, reason: `${distinct.length} SSH public keys found: send exactly one` };
  const key = distinct[0]!;
  if (key.lineStart) return { ok: false, privateKey: false, reason: 'the key line carries options before its type (such as command= or from=): send the bare public key line' };
  if (!(KEY_TYPES as readonly string[]).includes(key.type)) {
    return { ok: false, privateKey: false, reason: `key type ${key.type} is not accepted (ssh-ed25519, ecdsa-sha2-nistp256/384/521, or ssh-rsa of ${MIN_RSA_BITS} bits or more)` };
  }
  if (key.blob.length > MAX_BLOB_CHARS) return { ok: false, privateKey: false, reason: 'the key is too long to be a key we accept' };
  const blob = Buffer.from(key.blob, 'base64');
  if (blob.toString('base64').replace(/=+$/, '') !== key.blob.replace(/=+$/, '')) return { ok: false, privateKey: false, reason: 'the key data is not valid base64' };
  const type = key.type as MemberKey['type'];
  const bits = bitsOf(type, blob);
  if (typeof bits === 'string') return { ok: false, privateKey: false, reason: bits };
  if (type === 'ssh-rsa' && bits < MIN_RSA_BITS) return { ok: false, privateKey: false, reason: `the RSA key has ${bits} bits: at least ${MIN_RSA_BITS} are needed` };
  const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  // The comment lands in authorized_keys and in mails: printable ASCII, bounded.
  const comment = key.rest.replace(/[^A-Za-z0-9@._+-]/g, '_').slice(0, 100);
  return { ok: true, key: { type, bits, fingerprint, line: [type, key.blob, comment].filter(Boolean).join(' ') } };
}
