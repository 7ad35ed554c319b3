/**
 * Secrets typed by a person (passphrases): read hidden on a terminal, else one line per read from a piped stdin
 * (so scripts and tests can answer), checked, and sealed with the worker's public key before they leave this
 * module. Kept in Buffers we zero, never in strings (which cannot be wiped), and never printed.
 */
import { MAX_SECRET_BYTES, passphraseProblem, sealSecret, type SealingPublicKey } from '../common/sealing.js';
import type { SealedSecret } from '../common/sealed.js';

/** Ctrl-C or Ctrl-D at the prompt. */
export class Cancelled extends Error {}

/** The longest passphrase line we send (common/sealing.ts): a longer one is refused before it is sealed and sent. */
export { MAX_SECRET_BYTES };

/** A line over the bound is handed out cut to one byte more than it, so the check below refuses it. */
const TOO_LONG = MAX_SECRET_BYTES + 1;

/** One secret per read. */
export interface SecretSource {
  read(prompt: string): Promise<Buffer>;
  /** A person at a terminal, who can be asked again; else a pipe, where a bad line is an error. */
  readonly interactive: boolean;
  /** Lets the process exit: stdin no longer holds it open. */
  close(): void;
}

export function secretSource(): SecretSource {
  const close = () => {
    process.stdin.pause();
    (process.stdin as { unref?: () => void }).unref?.();
  };
  return process.stdin.isTTY ? { interactive: true, read: readHidden, close } : { ...stdinLines(), close };
}

/**
 * Reads secrets until one can be sent (a terminal is asked again after a line break or NUL; a pipe fails), and
 * returns it sealed for `recipient`. The plaintext is zeroed before this returns or throws.
 */
export async function readSealedSecret(source: SecretSource, recipient: SealingPublicKey, prompt: string): Promise<SealedSecret> {
  for (;;) {
    const secret = await source.read(prompt);
    try {
      // Checked here too, so that a typo does not cost one of the host's tries.
      const problem = passphraseProblem(secret);
      if (!problem) return sealSecret(recipient, secret);
      if (!source.interactive) throw new Error(`${problem}; nothing was sent`);
      process.stderr.write(`${problem}; nothing was sent, type it again\n`);
    } finally {
      secret.fill(0);
    }
  }
}

/** Raw-mode terminal input without echo: Enter ends, Backspace deletes a character, Ctrl-U the line, Ctrl-C/Ctrl-D cancel. */
function readHidden(prompt: string): Promise<Buffer> {
  const input = process.stdin;
  let buf = Buffer.alloc(256);
  let len = 0;
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  return new Promise<Buffer>((resolve, reject) => {
    const finish = (result: Buffer | Error) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      buf.fill(0);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: Buffer) => {
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i]!;
        if (byte === 0x03) return finish(new Cancelled('cancelled'));
        if (byte === 0x04 && len === 0) return finish(new Cancelled('cancelled'));
        if (byte === 0x0d || byte === 0x0a) {
          const out = Buffer.from(buf.subarray(0, len));
          chunk.fill(0);
          return finish(out);
        }
        if (byte === 0x7f || byte === 0x08) {
          // drop the last UTF-8 character: its continuation bytes (10xxxxxx), then its lead byte
          while (len > 0 && (buf[len - 1]! & 0xc0) === 0x80) len--;
          if (len > 0) len--;
          buf.fill(0, len);
        } else if (byte === 0x15) {
          buf.fill(0, 0, len);
          len = 0;
        } else if (byte === 0x1b) {
          break; // an escape sequence (arrow keys…): not part of a secret
        } else if (byte >= 0x20) {
          if (len === TOO_LONG) continue; // the rest is dropped: the line is refused at Enter
          if (len === buf.length) {
            const bigger = Buffer.alloc(Math.min(buf.length * 2, TOO_LONG));
            buf.copy(bigger);
            buf.fill(0);
            buf = bigger;
          }
          buf[len++] = byte;
        }
      }
      chunk.fill(0);
    };
    input.on('data', onData);
  });
}

/** Lines of a piped stdin, one per read; what arrives past a line waits for the next read (another try). */
function stdinLines(): Omit<SecretSource, 'close'> {
  let pending = Buffer.alloc(0);
  let ended = false;
  /** `pending` holds the start of a line longer than the bound; `skipping`: its rest is being dropped. */
  let overlong = false;
  let skipping = false;
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  let listening = false;
  const listen = () => {
    if (listening) return;
    listening = true;
    process.stdin.on('data', (chunk: Buffer) => {
      // Never more than a too-long line is kept: past it, bytes up to the next line break are dropped.
      let from = 0;
      if (skipping) {
        const nl = chunk.indexOf(0x0a);
        from = nl < 0 ? chunk.length : nl + 1;
        if (nl >= 0) skipping = false;
      }
      const next = Buffer.concat([pending, chunk.subarray(from)]);
      pending.fill(0);
      chunk.fill(0);
      pending = next;
      if (pending.indexOf(0x0a) < 0 && pending.length > TOO_LONG) {
        pending.fill(0, TOO_LONG);
        pending = pending.subarray(0, TOO_LONG);
        overlong = true;
      }
      wake();
    });
    process.stdin.on('end', () => {
      ended = true;
      wake();
    });
  };
  return {
    interactive: false,
    async read(prompt: string) {
      process.stderr.write(`${prompt}(reading one line from stdin)\n`);
      listen();
      process.stdin.resume();
      for (;;) {
        if (overlong) {
          overlong = false;
          skipping = !ended;
          const line = Buffer.from(pending);
          pending.fill(0);
          pending = Buffer.alloc(0);
          process.stdin.pause();
          return line;
        }
        const nl = pending.indexOf(0x0a);
        if (nl >= 0 || (ended && pending.length > 0)) {
          const end = nl >= 0 ? nl : pending.length;
          const line = Buffer.from(pending.subarray(0, end > 0 && pending[end - 1] === 0x0d ? end - 1 : end));
          const rest = Buffer.from(pending.subarray(nl >= 0 ? nl + 1 : pending.length));
          pending.fill(0);
          pending = rest;
          process.stdin.pause();
          return line;
        }
        if (ended) throw new Error('no passphrase on stdin (one line per try)');
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}
