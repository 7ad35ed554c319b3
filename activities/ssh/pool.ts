/**
 * SSH executor: one pooled connection per (host, boot stage), pinned host keys, bounded channels.
 *
 * Temporal-agnostic: activities use it through ./remote.ts.
 */
import { createHash } from 'node:crypto';
import { Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { Client as ClientType, ClientChannel, ConnectConfig, KexAlgorithm, ServerHostKeyAlgorithm } from 'ssh2';
import type { BootStage, Host } from '../../common/inventory.js';
import type { Command } from '../../common/shell.js';

const { Client, utils } = ssh2;

export interface ExecResult {
  exitCode: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Bytes written to the command's stdin, then stdin is closed. Always treated as a secret. */
  stdin?: Buffer | string;
  /** Strings replaced by `[redacted]` in stdout, stderr and error messages. */
  secrets?: (string | Buffer)[];
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ProbeOtherStage {
  stage: BootStage;
}
export type ProbeResult = 'up' | 'down' | ProbeOtherStage;

export interface SshPoolOptions {
  privateKey: Buffer;
  readyTimeoutMs?: number;
  /** Channels in flight per connection; the rest wait. OpenSSH's MaxSessions defaults to 10. */
  maxChannelsPerHost?: number;
}

export const REDACTED = '[redacted]';

/** SHA256 fingerprint as OpenSSH prints it (`SHA256:` + unpadded base64), of a public key line or a key blob. */
export function fingerprint(publicKeyLineOrBlob: string | Buffer): string {
  const blob = typeof publicKeyLineOrBlob === 'string' ? parsePublicKey(publicKeyLineOrBlob) : publicKeyLineOrBlob;
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The SSH wire blob of an OpenSSH public key line. */
export function parsePublicKey(line: string): Buffer {
  const parsed = utils.parseKey(line.trim());
  if (parsed instanceof Error) throw new Error(`cannot parse public key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) throw new Error('cannot parse public key: no key found');
  return key.getPublicSSH();
}

export class HostKeyMismatchError extends Error {
  override name = 'HostKeyMismatchError';
  constructor(
    readonly host: string,
    readonly stage: BootStage,
    readonly expected: string,
    readonly presented: string,
  ) {
    super(
      `host key mismatch for ${host} (${stage}): expected ${expected}, server presented ${presented}. ` +
        'Connection refused before authentication; no command was sent.',
    );
  }
}

export class SshTimeoutError extends Error {
  override name = 'SshTimeoutError';
}

export class SshAbortError extends Error {
  override name = 'SshAbortError';
}

/** Replaces every secret in `text` by `[redacted]`, longest first. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join(REDACTED);
  return out;
}

function secretStrings(opts: ExecOptions | undefined): string[] {
  const list: string[] = [];
  const add = (value: string | Buffer) => {
    const text = typeof value === 'string' ? value : value.toString('utf8');
    if (text) list.push(text);
    const trimmed = text.trim();
    if (trimmed && trimmed !== text) list.push(trimmed);
  };
  for (const secret of opts?.secrets ?? []) add(secret);
  if (opts?.stdin !== undefined) add(opts.stdin);
  return [...new Set(list)].sort((a, b) => b.length - a.length);
}

/** Algorithm names under which a key type is offered in the handshake. */
function hostKeyAlgorithms(line: string): ServerHostKeyAlgorithm[] {
  const type = line.trim().split(/\s+/)[0] ?? '';
  if (type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] as ServerHostKeyAlgorithm[];
  return [type as ServerHostKeyAlgorithm];
}

const CHANNEL_OPEN_ATTEMPTS = 6;

const KEX_PREFERRED: KexAlgorithm[] = ['curve25519-sha256', 'curve25519-sha256@libssh.org'];

/** What a channel reported before runChannel listened: its exit status, an error, its close. */
interface ChannelStatus {
  exited: boolean;
  exitCode: number | null;
  signal?: string;
  error?: Error;
  closed: boolean;
}

/**
 * Listens to a channel's exit status, error and close from the moment it opens, in the exec callback itself: the
 * server's whole answer (output, exit-status, close) can come in the same read as the channel's confirmation, and
 * ssh2 emits 'exit' there and then. A listener added after an `await` missed it: the command looked as if its
 * connection was lost after a full output (seen under load, 1 command in a few thousand; bench/lost-status.ts).
 * Output needs no such care: the channel's streams keep it until read.
 */
function watchStatus(channel: ClientChannel): ChannelStatus {
  const status: ChannelStatus = { exited: false, exitCode: null, closed: false };
  channel.on('exit', (code: number | null, signalName?: string) => {
    status.exited = true;
    status.exitCode = typeof code === 'number' ? code : null;
    if (typeof code !== 'number' && signalName) status.signal = signalName;
  });
  channel.on('error', (error: Error) => { status.error ??= error; });
  channel.once('close', () => { status.closed = true; });
  return status;
}

/** A counting semaphore: at most `limit` holders, FIFO for the rest. */
class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  /** Holders now, and those waiting in line (the metrics' channels in use and queued commands). */
  get inUse(): number { return this.active; }
  get queued(): number { return this.waiting.length; }
  async acquire(signal?: AbortSignal): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new SshAbortError('cancelled while waiting for a free SSH channel'));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
    // the releasing holder handed its slot over: `active` is unchanged
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

interface PoolEntry {
  slots: Slots;
  conn?: Promise<ClientType>;
}

interface Handshake {
  client: ClientType;
  /** Resolves when the connection is ready (or, in probe mode, when a key was presented). */
  ready: Promise<void>;
  presented: () => Buffer | undefined;
}

/** What the pool did since it started (the benchmark reads them; metrics can). */
export interface PoolCounters {
  commands: number;
  /** Channel opens the server refused (OpenSSH's MaxSessions), each retried after a pause. */
  channelOpenRefusals: number;
}

/** Told of every command, refusal and change of a connection's channels (the worker's metrics). */
export interface PoolObserver {
  command(host: string, exitCode: number | null, ms: number): void;
  channelOpenRefused(host: string): void;
  /** A connection's channels in use and the commands queued for one (each at most maxChannelsPerHost at once). */
  channels(host: string, stage: BootStage, inUse: number, queued: number): void;
}

export class SshPool {
  readonly counters: PoolCounters = { commands: 0, channelOpenRefusals: 0 };
  private readonly entries = new Map<string, PoolEntry>();
  private readonly maxChannels: number;
  private readonly readyTimeoutMs: number;
  private closed = false;
  private readonly dead = new WeakSet<ClientType>();

  constructor(private readonly opts: { privateKey: Buffer; readyTimeoutMs?: number; maxChannelsPerHost?: number; observer?: PoolObserver }) {
    this.maxChannels = opts.maxChannelsPerHost ?? 8;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
  }

  async exec(host: Host, stage: BootStage, command: Command, opts?: ExecOptions): Promise<ExecResult> {
    const secrets = secretStrings(opts);
    const label = `${host.name} (${stage})`;
    try {
      if (this.closed) throw new Error('SSH pool is closed');
      const entry = this.entry(host, stage);
      const report = () => this.opts.observer?.channels(host.name, stage, entry.slots.inUse, entry.slots.queued);
      const acquired = entry.slots.acquire(opts?.signal);
      report();
      await acquired.finally(report);
      try {
        const started = performance.now();
        const result = await this.execOnConnection(entry, host, stage, command, opts, secrets);
        this.opts.observer?.command(host.name, result.exitCode, performance.now() - started);
        return result;
      } finally {
        entry.slots.release();
        report();
      }
    } catch (error) {
      if (error instanceof HostKeyMismatchError) throw error;
      const err = error as Error;
      const message = redact(err.message.includes(host.name) ? err.message : `${label}: ${err.message}`, secrets);
      const wrapped =
        err instanceof SshTimeoutError ? new SshTimeoutError(message)
        : err instanceof SshAbortError ? new SshAbortError(message)
        : new Error(message);
      throw wrapped;
    }
  }

  /**
   * Handshake only: which pinned key does the host present right now?
   * 'up' = the key of `expected`; `{ stage }` = the other stage's key; 'down' = unreachable.
   * Throws HostKeyMismatchError when the key matches neither. Never authenticates.
   */
  async probe(host: Host, expected: BootStage, timeoutMs = 10_000): Promise<ProbeResult> {
    const other: BootStage = expected === 'openssh' ? 'dropbear' : 'openssh';
    const expectedLine = host.hostKeys[expected];
    if (!expectedLine) throw new Error(`${host.name}: no pinned ${expected} host key in the inventory`);
    const otherLine = host.hostKeys[other];
    const expectedBlob = parsePublicKey(expectedLine);
    const otherBlob = otherLine ? parsePublicKey(otherLine) : undefined;
    const algos = [...hostKeyAlgorithms(expectedLine), ...(otherLine ? hostKeyAlgorithms(otherLine) : [])];

    const hs = this.handshake(host, [...new Set(algos)], () => false, timeoutMs, true);
    try {
      await hs.ready;
    } catch {
      // refused, reset, timeout, or our own refusal of the key: decided below from what was presented
    } finally {
      hs.client.end();
      hs.client.destroy();
    }
    const key = hs.presented();
    if (!key) return 'down';
    if (key.equals(expectedBlob)) return 'up';
    if (otherBlob && key.equals(otherBlob)) return { stage: other };
    throw new HostKeyMismatchError(host.name, expected, fingerprint(expectedBlob), fingerprint(key));
  }

  /** Closes every pooled connection. Commands in flight fail. */
  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) {
      entry.conn?.then((c) => c.end(), () => undefined);
      entry.conn = undefined;
    }
    this.entries.clear();
  }

  private entry(host: Host, stage: BootStage): PoolEntry {
    const key = `${host.name}|${host.address}|${host.port}|${host.user}|${stage}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { slots: new Slots(this.maxChannels) };
      this.entries.set(key, entry);
    }
    return entry;
  }

  private connection(entry: PoolEntry, host: Host, stage: BootStage): Promise<ClientType> {
    if (entry.conn) return entry.conn;
    const pinned = host.hostKeys[stage];
    if (!pinned) return Promise.reject(new Error(`${host.name}: no pinned ${stage} host key in the inventory`));
    const pinnedBlob = parsePublicKey(pinned);
    const hs = this.handshake(host, hostKeyAlgorithms(pinned), (key) => key.equals(pinnedBlob), this.readyTimeoutMs, false);
    const conn = hs.ready.then(
      () => hs.client,
      (error: Error) => {
        const key = hs.presented();
        if (key && !key.equals(pinnedBlob)) {
          throw new HostKeyMismatchError(host.name, stage, fingerprint(pinnedBlob), fingerprint(key));
        }
        throw new Error(`${host.name} (${stage}): cannot connect to ${host.address}:${host.port}: ${error.message}`);
      },
    );
    entry.conn = conn;
    const forget = () => {
      this.dead.add(hs.client);
      if (entry.conn === conn) entry.conn = undefined;
    };
    hs.client.on('close', forget);
    hs.client.on('end', forget);
    conn.catch(() => {
      if (entry.conn === conn) entry.conn = undefined;
    });
    return conn;
  }

  private handshake(
    host: Host,
    serverHostKey: ServerHostKeyAlgorithm[],
    accept: (key: Buffer) => boolean,
    readyTimeoutMs: number,
    probeOnly: boolean,
  ): Handshake {
    const client = new Client();
    let presented: Buffer | undefined;
    const sock = new Socket();
    sock.setNoDelay(true);
    sock.connect(host.port, host.address);
    const ready = new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error('connection closed during handshake')));
    });
    const config: ConnectConfig = {
      sock,
      username: host.user,
      privateKey: this.opts.privateKey,
      readyTimeout: readyTimeoutMs,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      algorithms: {
        kex: { prepend: KEX_PREFERRED, append: [], remove: [] },
        serverHostKey: { prepend: serverHostKey, append: [], remove: [] },
      },
      hostVerifier: (key: Buffer): boolean => {
        presented = Buffer.from(key);
        return probeOnly ? false : accept(key);
      },
    };
    client.on('error', () => undefined); // errors after ready are handled by channel callbacks and 'close'
    client.connect(config);
    return { client, ready, presented: () => presented };
  }

  private async execOnConnection(
    entry: PoolEntry,
    host: Host,
    stage: BootStage,
    command: Command,
    opts: ExecOptions | undefined,
    secrets: string[],
  ): Promise<ExecResult> {
    if (opts?.signal?.aborted) throw new SshAbortError(`cancelled before running: ${command.text}`);
    let opened: { channel: ClientChannel; status: ChannelStatus };
    for (let attempt = 1; ; attempt++) {
      const conn = await this.connection(entry, host, stage);
      try {
        opened = await new Promise((resolve, reject) => {
          conn.exec(command.text, (err, ch) => (err ? reject(err) : resolve({ channel: ch, status: watchStatus(ch) })));
        });
        break;
      } catch (error) {
        // The channel never opened, so the command did not start: retrying is safe.
        // - the pooled connection had died: once, on a fresh connection;
        // - "Channel open failure": OpenSSH frees a closed session slot lazily, so a channel opened right after
        //   another closed can be refused at MaxSessions; retry a few times after a short pause.
        const dead = this.dead.has(conn);
        const refused = /Channel open failure/i.test((error as Error).message);
        if (refused) { this.counters.channelOpenRefusals++; this.opts.observer?.channelOpenRefused(host.name); }
        if (attempt >= CHANNEL_OPEN_ATTEMPTS || !(dead || refused) || opts?.signal?.aborted) throw error;
        if (refused) await new Promise((r) => setTimeout(r, 25 * attempt));
      }
    }
    this.counters.commands++;
    return this.runChannel(opened.channel, opened.status, host, stage, command, opts, secrets);
  }

  private runChannel(
    channel: ClientChannel,
    status: ChannelStatus,
    host: Host,
    stage: BootStage,
    command: Command,
    opts: ExecOptions | undefined,
    secrets: string[],
  ): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let settled = false;
      let timer: NodeJS.Timeout | undefined;

      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        opts?.signal?.removeEventListener('abort', onAbort);
        if (error) {
          reject(error);
          return;
        }
        const result: ExecResult = {
          exitCode: status.exitCode,
          stdout: redact(Buffer.concat(stdout).toString('utf8'), secrets),
          stderr: redact(Buffer.concat(stderr).toString('utf8'), secrets),
        };
        if (status.signal !== undefined) result.signal = status.signal;
        resolve(result);
      };
      const kill = () => {
        try {
          channel.signal('KILL');
        } catch {
          /* the server may not support signals */
        }
        channel.close();
      };
      const onAbort = () => {
        kill();
        finish(new SshAbortError(`${host.name} (${stage}): cancelled: ${command.text}`));
      };

      if (opts?.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          kill();
          finish(new SshTimeoutError(`${host.name} (${stage}): timed out after ${opts.timeoutMs} ms: ${command.text}`));
        }, opts.timeoutMs);
      }
      opts?.signal?.addEventListener('abort', onAbort, { once: true });

      channel.on('data', (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      const onError = (error: Error) => finish(new Error(`${host.name} (${stage}): ${error.message}: ${command.text}`));
      if (status.error) onError(status.error);
      channel.on('error', onError);
      const onClose = () =>
        status.exited ? finish() : finish(new Error(`${host.name} (${stage}): connection lost before the command reported an exit status: ${command.text}`));
      // Closed already (rare: ssh2 closes a channel after its output was read): once that output is read here.
      if (!status.closed) channel.once('close', onClose);
      else if (channel.readableEnded) onClose();
      else channel.once('end', onClose);

      if (opts?.stdin !== undefined) channel.end(opts.stdin);
      else channel.end();
    });
  }
}
