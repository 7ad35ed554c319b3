/**
 * The codec server: Temporal's remote codec protocol (`POST …/encode`, `POST …/decode`, body
 * `{"payloads":[{"metadata":{"k":"<base64>"},"data":"<base64>"}]}`) over our AES-GCM payload codec, so the Web UI
 * and `temporal … --codec-endpoint` can read and write payloads.
 *
 * On top of the codec:
 *   - /encode SEALS every secret field (SECRET_FIELDS) holding a plain string, at any depth of a `json/plain`
 *     payload, with the worker's PUBLIC sealing key: a passphrase typed in the UI arrives here in clear (serve this
 *     over https) and leaves sealed, padded to one length (common/sealing.ts).
 *   - /decode shows sealed values as they are (ciphertext: this server holds no private sealing key and cannot
 *     open them) and replaces any other value of a secret field by "[redacted]".
 *
 * Access: every request must carry the token, as `Authorization: Bearer <token>` (CLI: --codec-auth) or as a path
 * prefix `/t/<token>/` (the Web UI cannot send a header of ours: see README "Codec server"). Browsers are only
 * let in from the allowed origins; no Origin header (CLI, curl) is fine.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { SECRET_FIELDS } from '../common/sealed.js';
import { isSealed, passphraseProblem, sealSecret, type SealingPublicKey } from '../common/sealing.js';

export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Bounds on what a body holds, far above what the Web UI sends (one history page at a time). */
export const MAX_PAYLOADS = 4096;
const MAX_METADATA_ENTRIES = 64;
/** Nesting of a json/plain payload that /encode and /decode walk for secret fields. */
export const MAX_JSON_DEPTH = 64;
/** A request must arrive whole within this: a client that trickles its body does not hold a connection open. */
const REQUEST_TIMEOUT_MS = 30_000;
const REDACTED = '[redacted]';
const ALLOWED_HEADERS = ['content-type', 'x-namespace', 'authorization'];
const SECRET_NAMES = new Set<string>(SECRET_FIELDS);

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Public only, by design: what /encode seals for. */
  sealFor: SealingPublicKey;
  token: string;
  /** Browser origins let in, e.g. http://127.0.0.1:8233. */
  allowedOrigins: readonly string[];
  maxBodyBytes?: number;
  /** Where request failures are reported (never with payload contents). */
  log?: (message: string) => void;
}

export interface RunningCodecServer {
  server: Server;
  /** http://host:port */
  url: string;
  close(): Promise<void>;
}

/** A refusal with its HTTP status; its message is safe to send back. */
class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** `http://host:port`, as browsers send in Origin; refuses "*" so no web page anywhere may use the codec. */
export function normalizeOrigin(origin: string): string {
  if (origin.trim() === '*') throw new Error('"*" is not an allowed origin: name the Web UI origin(s), e.g. http://127.0.0.1:8233');
  let url: URL;
  try {
    url = new URL(origin.trim());
  } catch {
    throw new Error(`allowed origin "${origin}" is not a URL such as http://127.0.0.1:8233`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`allowed origin "${origin}" must be http or https`);
  return url.origin;
}

export function createCodecServer(options: CodecServerOptions): Server {
  if (options.token.length < 16) throw new Error('the codec server token must be at least 16 characters');
  const origins = new Set(options.allowedOrigins.map(normalizeOrigin));
  const tokenDigest = digest(options.token);
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const log = options.log ?? ((message: string) => console.error(`[codec-server] ${message}`));

  const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
    void handle(req, res).catch((error: unknown) => {
      const known = error instanceof HttpError;
      // A refused payload is logged with its reason too (it names fields, never values): the Web UI shows only
      // that the codec call failed, so this line is where an admin reads why.
      if (!known) log(`${req.method} ${redactPath(req.url)}: ${error instanceof Error ? error.message : String(error)}`);
      else if (error.status === 400 || error.status === 413) log(`${req.method} ${redactPath(req.url)} refused (${error.status}): ${error.message}`);
      if (!res.headersSent) send(res, known ? error.status : 500, { error: known ? error.message : 'internal error' });
      else res.destroy();
    });
  });
  return server;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('Vary', 'Origin');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const origin = req.headers.origin;
    const originAllowed = origin !== undefined && origins.has(origin);
    if (originAllowed) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      // Harmless here (no cookies are used) and needed if the UI's "include cross-origin credentials" is on.
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }

    if (req.method === 'OPTIONS') {
      if (!originAllowed) throw new HttpError(403, 'origin not allowed');
      const asked = String(req.headers['access-control-request-headers'] ?? '')
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean);
      const refused = asked.filter((h) => !ALLOWED_HEADERS.includes(h));
      if (refused.length > 0) throw new HttpError(403, `header(s) not allowed: ${refused.join(', ')}`);
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS.join(', '));
      res.setHeader('Access-Control-Max-Age', '600');
      // Chrome's Private Network Access: a UI served from elsewhere may call a loopback codec server.
      if (req.headers['access-control-request-private-network'] === 'true') res.setHeader('Access-Control-Allow-Private-Network', 'true');
      res.setHeader('Vary', 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method');
      res.writeHead(204).end();
      return;
    }

    const route = parsePath(req.url ?? '/');
    if (!route) throw new HttpError(404, 'not found: POST …/encode or …/decode');
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST, OPTIONS');
      throw new HttpError(405, 'method not allowed: use POST');
    }
    if (origin !== undefined && !originAllowed) throw new HttpError(403, 'origin not allowed');
    if (!authorized(req, route.pathToken)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="runbooks codec"');
      throw new HttpError(401, 'missing or wrong token');
    }

    const payloads = parsePayloads(await readBody(req, maxBody));
    const out = route.action === 'encode'
      ? await options.codec.encode(payloads.map((p, i) => sealSecretFields(p, i, options.sealFor)))
      : (await decodeAll(options.codec, payloads)).map(redactSecretFields);
    send(res, 200, { payloads: out.map(toJson) });
  }

  function authorized(req: IncomingMessage, pathToken: string | undefined): boolean {
    const header = req.headers.authorization;
    const bearer = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    return [bearer, pathToken].some((candidate) => candidate !== undefined && timingSafeEqual(digest(candidate), tokenDigest));
  }
}

export async function startCodecServer(options: CodecServerOptions & { host?: string; port?: number }): Promise<RunningCodecServer> {
  const server = createCodecServer(options);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

// --- request pieces --------------------------------------------------------------------------------------

const digest = (text: string) => createHash('sha256').update(text).digest();

/** The protocol says: look only at the last path segment. `/t/<token>/` in front carries the token for the UI. */
function parsePath(url: string): { action: 'encode' | 'decode'; pathToken?: string } | undefined {
  let pathname: string;
  try {
    pathname = new URL(url, 'http://codec').pathname;
  } catch {
    return undefined; // not a URL at all: 404
  }
  const segments = pathname.split('/').filter(Boolean);
  const action = segments.at(-1);
  if (action !== 'encode' && action !== 'decode') return undefined;
  if (segments[0] === 't' && segments.length >= 3) {
    try {
      return { action, pathToken: decodeURIComponent(segments[1]!) };
    } catch {
      return { action };
    }
  }
  return { action };
}

/** The path without a token in it, for logs. */
function redactPath(url: string | undefined): string {
  return (url ?? '').replace(/^\/t\/[^/]+/, '/t/[token]');
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      reject(new HttpError(413, `body larger than ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new HttpError(413, `body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function base64Field(value: unknown, where: string): Uint8Array {
  if (typeof value !== 'string' || !BASE64.test(value)) throw new HttpError(400, `${where} must be a base64 string`);
  return Buffer.from(value, 'base64');
}

function parsePayloads(body: Buffer): Payload[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new HttpError(400, 'body must be {"payloads": [...]}, a JSON object');
  if (Object.keys(doc).some((k) => k !== 'payloads')) throw new HttpError(400, 'body must be {"payloads": [...]} and nothing else');
  // Protobuf's JSON leaves an empty list out: the temporal CLI posts `{}` for no payloads (a query without arguments).
  const list = (doc as { payloads?: unknown }).payloads ?? [];
  if (!Array.isArray(list)) throw new HttpError(400, 'body must be {"payloads": [...]}: "payloads" is not a list');
  if (list.length > MAX_PAYLOADS) throw new HttpError(413, `payloads: more than ${MAX_PAYLOADS} in one request`);
  return list.map((entry: unknown, i) => {
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) throw new HttpError(400, `payloads[${i}] must be an object`);
    const { metadata = {}, data } = entry as { metadata?: unknown; data?: unknown };
    if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) throw new HttpError(400, `payloads[${i}].metadata must be an object`);
    if (Object.keys(metadata).length > MAX_METADATA_ENTRIES) throw new HttpError(400, `payloads[${i}].metadata: more than ${MAX_METADATA_ENTRIES} entries`);
    const badKey = Object.keys(metadata).find((k) => !/^[A-Za-z0-9_.-]{1,64}$/.test(k));
    if (badKey !== undefined) throw new HttpError(400, `payloads[${i}].metadata: a key must be 1-64 letters, digits, _ . -`);
    return {
      metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, base64Field(v, `payloads[${i}].metadata.${k}`)])),
      data: data === undefined || data === null ? new Uint8Array() : base64Field(data, `payloads[${i}].data`),
    };
  });
}

function toJson(payload: Payload): { metadata: Record<string, string>; data: string } {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
    data: Buffer.from(payload.data ?? []).toString('base64'),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) }).end(text);
}

async function decodeAll(codec: PayloadCodec, payloads: Payload[]): Promise<Payload[]> {
  try {
    return await codec.decode(payloads);
  } catch (error) {
    // Our codec's messages name a key id or say authentication failed: nothing from the payload itself.
    throw new HttpError(400, `cannot decode: ${error instanceof Error ? error.message : 'bad payload'}`);
  }
}

// --- secret fields ---------------------------------------------------------------------------------------

function jsonOf(payload: Payload): unknown {
  if (Buffer.from(payload.metadata?.[METADATA_ENCODING_KEY] ?? []).toString() !== 'json/plain') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload.data ?? []).toString('utf8'));
  } catch {
    return undefined;
  }
  // Walked recursively for secret fields below: refused past a depth no runbook value comes near.
  if (depthOf(value) > MAX_JSON_DEPTH) throw new HttpError(400, `a json/plain payload is nested deeper than ${MAX_JSON_DEPTH} levels`);
  return value;
}

/** How deeply objects and arrays nest in a parsed JSON value, counted without recursion. */
function depthOf(root: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length) {
    const [value, depth] = stack.pop()!;
    if (!value || typeof value !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > MAX_JSON_DEPTH) return deepest;
    for (const item of Object.values(value)) stack.push([item, depth + 1]);
  }
  return deepest;
}

function withJson(payload: Payload, value: unknown): Payload {
  return { ...payload, data: Buffer.from(JSON.stringify(value)) };
}

/**
 * Rewrites, at any depth, every secret field. Returns undefined when nothing changed, so an untouched payload
 * keeps its exact bytes (big integers the UI wrote stay as they were).
 */
function rewriteSecrets(value: unknown, change: (fieldValue: unknown, path: string) => unknown, path = ''): { value: unknown } | undefined {
  if (Array.isArray(value)) {
    let changed = false;
    const next = value.map((item, i) => {
      const r = rewriteSecrets(item, change, `${path}[${i}]`);
      if (r) changed = true;
      return r ? r.value : item;
    });
    return changed ? { value: next } : undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  let changed = false;
  const next: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (SECRET_NAMES.has(key) && !isSealed(item)) {
      const replaced = change(item, at);
      if (replaced !== item) changed = true;
      next[key] = replaced;
      continue;
    }
    const r = rewriteSecrets(item, change, at);
    if (r) changed = true;
    next[key] = r ? r.value : item;
  }
  return changed ? { value: next } : undefined;
}

function sealSecretFields(payload: Payload, index: number, sealFor: SealingPublicKey): Payload {
  const json = jsonOf(payload);
  if (json === undefined) {
    if (Buffer.from(payload.metadata?.[METADATA_ENCODING_KEY] ?? []).toString() === 'json/plain') throw new HttpError(400, `payloads[${index}]: json/plain data is not JSON`);
    return payload;
  }
  const seal = (fieldValue: unknown, path: string): unknown => {
    // Not a string: look inside it for more secret fields; the workflow's validator refuses the shape anyway.
    if (typeof fieldValue !== 'string') return rewriteSecrets(fieldValue, seal, path)?.value ?? fieldValue;
    const plain = Buffer.from(fieldValue, 'utf8');
    try {
      const problem = passphraseProblem(plain);
      if (problem) throw new HttpError(400, `payloads[${index}] ${path}: ${problem}`);
      return sealSecret(sealFor, plain);
    } finally {
      plain.fill(0);
    }
  };
  const rewritten = rewriteSecrets(json, seal);
  return rewritten ? withJson(payload, rewritten.value) : payload;
}

function redactSecretFields(payload: Payload): Payload {
  const json = jsonOf(payload);
  if (json === undefined) return payload;
  const rewritten = rewriteSecrets(json, () => REDACTED);
  return rewritten ? withJson(payload, rewritten.value) : payload;
}
