/**
 * The lab's mailbox: an SMTP sink (smtp-server) that keeps every message it is given and delivers nothing, except
 * what its `deliver` hook hands on (the request address's mail, into Dovecot: mail-services.ts).
 *
 * It accepts mail from anyone who can reach it, without authentication unless `auth` is given, and without TLS
 * (STARTTLS is not offered, so clients talk plain SMTP): it listens on loopback only and refuses anything else.
 * With `dir`, each message is also written there as an .eml file, for a person at `npm start` to read.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { isLoopback } from '../activities/mail.js';
import { parseInventory } from '../common/inventory.js';

export interface ReceivedMail {
  /** Envelope sender (MAIL FROM). */
  from: string;
  /** Envelope recipients (RCPT TO): who the message was delivered to, Bcc included. */
  to: string[];
  /** Decoded Subject header. */
  subject: string;
  /** Decoded text/plain body, with LF line ends. */
  text: string;
  /** The Message-ID header as sent, angle brackets included. */
  messageId: string;
  /** Decoded headers, names in lower case (the first of repeated headers). */
  headers: Record<string, string>;
  /** The user who logged in, when the mailbox requires authentication. */
  user?: string;
  /** The .eml file, when the mailbox writes to a directory. */
  file?: string;
  raw: Buffer;
}

export interface MailboxOptions {
  host: string;
  /** 0 (the default): a free port. */
  port?: number;
  /** Where to write each message as an .eml file. */
  dir?: string;
  /** Require AUTH PLAIN or LOGIN with these credentials (over plain SMTP: fine on loopback only). */
  auth?: { user: string; pass: string };
  /** One line per received message; console.log by default, false for silence. */
  log?: ((line: string) => void) | false;
  /** Hand the message on too (into the request mailbox); a throw answers the sender 451 (try again later). */
  deliver?: (mail: ReceivedMail, client: { address: string; helo: string }) => Promise<void> | void;
}

export interface Mailbox {
  readonly host: string;
  readonly port: number;
  messages(): ReceivedMail[];
  /** The first message (already received or still to come) that matches. */
  waitFor(predicate: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  stop(): Promise<void>;
}

const MAX_SIZE = 25 * 1024 * 1024;

export const Mailbox = {
  async start(opts: MailboxOptions): Promise<Mailbox> {
    if (!isLoopback(opts.host)) throw new Error(`the lab mailbox accepts mail from anyone: it listens on loopback only, not ${opts.host}`);
    const print = opts.log === false ? () => undefined : (opts.log ?? ((line: string) => console.log(line)));
    if (opts.dir) mkdirSync(opts.dir, { recursive: true });
    const received: ReceivedMail[] = [];
    const waiters = new Set<() => void>();
    let seq = 0;

    const options: SMTPServerOptions = {
      name: 'runbooks-lab-mailbox',
      banner: 'runbooks lab mailbox: a sink, nothing is delivered',
      size: MAX_SIZE,
      closeTimeout: 2_000,
      disabledCommands: opts.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
      authOptional: !opts.auth,
      ...(opts.auth
        ? {
            authMethods: ['PLAIN', 'LOGIN'],
            // AUTH without TLS: acceptable only because we are on loopback.
            allowInsecureAuth: true,
            onAuth(auth, _session, callback) {
              if (auth.username === opts.auth?.user && auth.password === opts.auth?.pass) return callback(null, { user: auth.username });
              return callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
            },
          }
        : {}),
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', (error) => callback(error));
        stream.on('end', () => {
          if (stream.sizeExceeded) return callback(Object.assign(new Error('Message too large'), { responseCode: 552 }));
          try {
            const raw = Buffer.concat(chunks);
            const parsed = parseMessage(raw);
            const mail: ReceivedMail = {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
              ...parsed,
              ...(typeof session.user === 'string' ? { user: session.user } : {}),
              raw,
            };
            seq += 1;
            if (opts.dir) {
              // Written before we answer 250: once the sender has its OK, the file is there.
              mail.file = join(opts.dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${String(seq).padStart(4, '0')}.eml`);
              writeFileSync(mail.file, raw);
            }
            const client = { address: session.remoteAddress, helo: session.hostNameAppearsAs ?? '' };
            Promise.resolve(opts.deliver?.(mail, client)).then(() => {
              received.push(mail);
              print(`[mailbox] ${mail.from} -> ${mail.to.join(', ')}: ${mail.subject}${mail.file ? ` (${mail.file})` : ''}`);
              for (const wake of waiters) wake();
              callback();
            }, (error: Error) => {
              print(`[mailbox] could not deliver ${mail.messageId}: ${error.message}`);
              callback(Object.assign(new Error(`delivery failed: ${error.message}`), { responseCode: 451 }));
            });
          } catch (error) {
            callback(error as Error);
          }
        });
      },
    };
    const server = new SMTPServer(options);
    // smtp-server reports connection-level errors here; without a listener they would crash the process. A port
    // in use at listen is the caller's to handle (npm start's falls back to a free one): not printed as an error.
    let listening = false;
    server.on('error', (error) => { if (listening) print(`[mailbox] ${error.message}`); });

    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(opts.port ?? 0, opts.host, () => {
        server.server.off('error', reject);
        listening = true;
        resolve();
      });
    });
    const address = server.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;

    return {
      host: opts.host,
      port,
      messages: () => [...received],
      waitFor(predicate, timeoutMs = 10_000) {
        return new Promise((resolve, reject) => {
          const check = (): boolean => {
            const found = received.find(predicate);
            if (!found) return false;
            clearTimeout(timer);
            waiters.delete(wake);
            resolve(found);
            return true;
          };
          const wake = (): void => void check();
          const timer = setTimeout(() => {
            waiters.delete(wake);
            const seen = received.map((m) => `"${m.subject}" to ${m.to.join(', ')}`).join('; ') || 'none';
            reject(new Error(`no matching mail within ${timeoutMs} ms (received: ${seen})`));
          }, timeoutMs);
          if (!check()) waiters.add(wake);
        });
      },
      stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  },
};

/** Where the lab's mail goes: 2525 when free, so the address stays the same across `npm start`s. */
export const LAB_MAIL_PORT = 2525;
export const LAB_MAIL = { from: 'runbooks@lab.invalid', admins: ['admins@lab.invalid'] };

/**
 * `npm start`'s mailbox: starts it on 127.0.0.1 (LAB_MAIL_PORT, or any free port), writing .eml files to `dir`,
 * and adds a `mail` section pointing at it to the lab's inventory file (validated, replaced atomically).
 */
export async function startLabMailbox(opts: {
  dir: string;
  inventoryPath: string;
  log?: (line: string) => void;
  deliver?: MailboxOptions['deliver'];
  /** More of the inventory's mail section (the request mailbox), and more sections (dns, people). */
  mail?: Record<string, unknown>;
  sections?: Record<string, unknown>;
}): Promise<Mailbox> {
  const host = '127.0.0.1';
  const log = opts.log ?? ((line: string) => console.log(line));
  const start = (port: number) => Mailbox.start({ host, port, dir: opts.dir, log, ...(opts.deliver ? { deliver: opts.deliver } : {}) });
  const box = await start(LAB_MAIL_PORT).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EADDRINUSE') throw error;
    return start(0);
  });
  try {
    const raw = JSON.parse(readFileSync(opts.inventoryPath, 'utf8')) as Record<string, unknown>;
    const mail = { host, port: box.port, secure: false, ...LAB_MAIL, ...opts.mail };
    const inventory = parseInventory({ ...raw, ...opts.sections, mail }, opts.inventoryPath);
    const tmp = `${opts.inventoryPath}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(inventory, null, 2)}\n`);
    renameSync(tmp, opts.inventoryPath);
  } catch (error) {
    await box.stop();
    throw error;
  }
  return box;
}

// ---- just enough MIME to read what nodemailer (or a person's mail client) sends ----

/** Headers and the decoded text/plain body of a raw message. */
export function parseMessage(raw: Buffer): { subject: string; text: string; messageId: string; headers: Record<string, string> } {
  // latin1 maps bytes 1:1 to chars, so offsets and 8-bit content survive until we decode a charset.
  const { headers, body } = splitEntity(raw.toString('latin1'));
  const decoded: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) decoded[name] = decodeWords(Buffer.from(value, 'latin1').toString('utf8'));
  return {
    subject: decoded.subject ?? '',
    text: textOf(headers, body).replace(/\r\n/g, '\n'),
    messageId: (decoded['message-id'] ?? '').trim(),
    headers: decoded,
  };
}

function splitEntity(entity: string): { headers: Record<string, string>; body: string } {
  const match = /\r?\n\r?\n/.exec(entity);
  const head = match ? entity.slice(0, match.index) : entity;
  const body = match ? entity.slice(match.index + match[0].length) : '';
  const headers: Record<string, string> = {};
  // Unfold: a line starting with white space continues the previous header.
  for (const line of head.replace(/\r?\n(?=[ \t])/g, '').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!(name in headers)) headers[name] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

/** `text/plain; charset="utf-8"` → type and lower-cased parameter names. */
function parseContentType(value: string | undefined): { type: string; params: Record<string, string> } {
  const [type = 'text/plain', ...rest] = (value || 'text/plain').split(';');
  const params: Record<string, string> = {};
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq > 0) params[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return { type: type.trim().toLowerCase(), params };
}

/** The first text/plain part, depth first; '' when there is none. */
function textOf(headers: Record<string, string>, body: string): string {
  const { type, params } = parseContentType(headers['content-type']);
  if (type.startsWith('multipart/') && params.boundary) {
    const delimiter = `--${params.boundary}`;
    const parts = body.split(new RegExp(`\\r?\\n?${escapeRegExp(delimiter)}(?:--)?[ \\t]*\\r?\\n?`)).slice(1, -1);
    for (const part of parts) {
      const entity = splitEntity(part);
      const text = textOf(entity.headers, entity.body);
      if (text) return text;
    }
    return '';
  }
  if (type !== 'text/plain') return '';
  const bytes = decodeTransfer(body, (headers['content-transfer-encoding'] ?? '7bit').toLowerCase());
  return decodeCharset(bytes, params.charset);
}

function decodeTransfer(body: string, encoding: string): Buffer {
  if (encoding === 'base64') return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  return Buffer.from(body, 'latin1');
}

function decodeQuotedPrintable(body: string): Buffer {
  return Buffer.from(
    body
      .replace(/[ \t]+(?=\r?\n)/g, '') // trailing white space is padding (RFC 2045 §6.7)
      .replace(/=\r?\n/g, '') // soft line breaks
      .replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  );
}

function decodeCharset(bytes: Buffer, charset = 'utf-8'): string {
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}

/**
 * RFC 2047 encoded words (`=?utf-8?Q?Red=C3=A9marrage?=`). Adjacent words are joined before decoding: white
 * space between them is not text, and an encoder may split one character's bytes across two words.
 */
export function decodeWords(value: string): string {
  const word = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;
  let out = '';
  let last = 0;
  let pending: { charset: string; bytes: Buffer[] } | undefined;
  const flush = (): void => {
    if (pending) out += decodeCharset(Buffer.concat(pending.bytes), pending.charset);
    pending = undefined;
  };
  for (let m = word.exec(value); m; m = word.exec(value)) {
    const between = value.slice(last, m.index);
    const charset = (m[1] ?? 'utf-8').split('*')[0]!.toLowerCase(); // drop an RFC 2231 language tag
    if (!pending || /\S/.test(between) || pending.charset !== charset) {
      flush();
      out += between;
      pending = { charset, bytes: [] };
    }
    const text = m[3] ?? '';
    pending.bytes.push(
      m[2]!.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1'),
    );
    last = m.index + m[0].length;
  }
  flush();
  return out + value.slice(last);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
