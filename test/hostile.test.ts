/**
 * The hostile-input corpus (test/helpers/hostile-corpus.ts) sent every way an input arrives: the schemas the
 * workflows and their Update validators run, our CLI (bin/runbook.js as a person types it), the codec server's
 * HTTP endpoints, the inventory loader, and, for a smaller set, a real Temporal dev server and a real worker in
 * front of lab hosts whose audit must show no command from any of them. Every case must be refused with a
 * message that names the field, without a stack trace and without the secret it carried.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { generateCodecKey, AesGcmCodec, parseCodecKeys } from '../common/codec.js';
import { InventoryError, loadInventory, parseInventory } from '../common/inventory.js';
import { generateSealingKey, SCHEME } from '../common/sealing.js';
import { describeIssues } from '../common/validation.js';
import { MAX_SECRET_BYTES, readSealedSecret } from '../starter/secret-input.js';
import { startCodecServer, MAX_PAYLOADS, MAX_JSON_DEPTH, type RunningCodecServer } from '../codec-server/server.js';
import { Lab, presets, type AuditEntry } from '../lab/lab.js';
import { proxmoxCluster } from '../lab/hosts/proxmox-node.js';
import { xenDom0WithGuests } from '../lab/hosts/xen-dom0.js';
import { RUNBOOKS } from '../starter/runbooks.js';
import { ANSWERS } from '../starter/answers.js';
import { approveUpdate, decideUpdate, diskReplacedUpdate, progressQuery, submitPassphraseUpdate } from '../workflows/messages.js';
import { HOSTILE_TEXT, PLAINTEXT_SECRET, hostileCases, schemaOf, type HostileCase } from './helpers/hostile-corpus.js';
import { cliEnvironment, codecClient, eventually, tempDir, waitingFor } from './helpers/runbooks.js';
import { writeTestCodecKey, writeTestSealingKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';

const BIN = fileURLToPath(new URL('../bin/runbook.js', import.meta.url));
const address = inject('temporalAddress');
const TASK_QUEUE = 'runbooks-hostile';
const CASES = hostileCases();
const RUNBOOK_TARGETS = new Set(RUNBOOKS.map((r) => r.type));

/** What every refusal is checked for: it names the field, carries no stack trace and no secret. */
function expectNamedRefusal(message: string, field: string): void {
  const lines = message.split('\n');
  const names = (l: string) => [':', '.', '['].some((after) => l.startsWith(`${field}${after}`) || l.includes(` ${field}${after}`)) || l.includes(`"${field}"`);
  expect(lines.some(names), `names ${field}:\n${message}`).toBe(true);
  expect(message).not.toMatch(/^\s+at /m);
  expect(message).not.toContain(PLAINTEXT_SECRET);
  // What is quoted back is escaped: a hostile key cannot forge a line of the message.
  for (const text of Object.values(HOSTILE_TEXT)) if (text.length > 3) expect(message).not.toContain(text);
}

const tried = { schemas: 0, cli: 0, codec: 0, inventory: 0, temporal: 0, worker: 0 };
/** Audit entries the hostile phases caused, on every lab host: must stay 0. */
let commandsFromHostile = 0;

afterAll(() => {
  const total = Object.values(tried).reduce((a, b) => a + b, 0);
  console.log(
    `hostile corpus: ${total} cases tried (${tried.schemas} through the schemas, ${tried.cli} through the CLI, ${tried.codec} through the codec server, `
    + `${tried.inventory} through the inventory loader, ${tried.temporal} through Temporal to a real worker, ${tried.worker} worker starts); `
    + `every one refused naming its field; ${commandsFromHostile} commands reached a host`,
  );
});

describe('the corpus', () => {
  it('covers every runbook input and every Update argument with at least 200 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(200);
    const targets = new Set(CASES.map((c) => c.target));
    for (const r of RUNBOOKS) expect(targets, r.type).toContain(r.type);
    for (const a of ANSWERS) expect(targets, a.update).toContain(a.update);
  });
});

describe('through the schemas the workflows and their Update validators run', () => {
  it.each(CASES.map((c) => [`${c.target} ${c.label}`, c] as const))('%s is refused naming the field', (_, c) => {
    const parsed = schemaOf(c.target).safeParse(c.value);
    expect(parsed.success).toBe(false);
    tried.schemas += 1;
    expectNamedRefusal(describeIssues(parsed.error!), c.field);
  });
});

// --- the CLI ---------------------------------------------------------------------------------------------------

function runCli(args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
    child.stdin!.on('error', () => undefined); // the CLI may exit before it reads everything
    child.stdin!.end(stdin ?? '');
  });
}

/** argv cannot carry NUL, and carries a lone surrogate as U+FFFD: such values go in an --input file. */
const typeable = (v: unknown) => typeof v === 'string' && !/[\0\ud800-\udfff]/.test(v);

/** The command line a person would type for a case, or undefined when flags cannot say it. */
function cliArgs(c: HostileCase, dir: string, n: number): string[] | undefined {
  if (RUNBOOK_TARGETS.has(c.target)) {
    const runbook = RUNBOOKS.find((r) => r.type === c.target)!;
    const args = ['start', runbook.name];
    const asFlags = Object.entries(c.value).every(([field, v]) => {
      const flag = runbook.flags.find((f) => f.field === field);
      if (!flag) return false;
      if (flag.kind === 'list') return Array.isArray(v) && v.length > 0 && v.every(typeable);
      if (flag.kind === 'number') return typeof v === 'number';
      if (flag.kind === 'boolean') return false;
      return typeable(v);
    });
    if (!asFlags) {
      const file = join(dir, `case-${n}.json`);
      writeFileSync(file, JSON.stringify(c.value));
      return [...args, '--input', file];
    }
    for (const [field, v] of Object.entries(c.value)) {
      const flag = runbook.flags.find((f) => f.field === field)!;
      for (const item of Array.isArray(v) ? v : [v]) args.push(`--${flag.name}=${String(item)}`);
    }
    return args;
  }
  const answer = ANSWERS.find((a) => a.update === c.target);
  if (!answer || answer.update === submitPassphraseUpdate.name) return undefined; // a passphrase is never a flag: see the unlock test
  // A missing `by` is filled with $USER by the CLI: only the cases whose every field is a flag.
  if (!Object.entries(c.value).every(([field, v]) => answer.flags.some((f) => f.field === field) && typeable(v))) return undefined;
  const args = [answer.command, 'hostile-run'];
  for (const [field, v] of Object.entries(c.value)) args.push(`--${answer.flags.find((f) => f.field === field)!.name}=${String(v)}`);
  return args;
}

describe('through the CLI (bin/runbook.js), before it connects to anything', () => {
  const dir = tempDir('hostile-cli');
  // Nobody listens there: a case that got past validation would fail to connect (exit 1), not exit 2.
  const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1', TEMPORAL_CONFIG_FILE: join(dir, 'none.toml'), RUNBOOK_CODEC_KEY: generateCodecKey('k1') };
  delete env.RUNBOOK_CODEC_KEY_FILE;
  delete env.TEMPORAL_PROFILE;
  // Every field of every runbook and answer, with every 4th of its hostile values (a process each: the schemas
  // above take them all); the kinds rotate, so every field meets several.
  const seen = new Map<string, number>();
  const cli = CASES.map((c, n) => ({ c, args: cliArgs(c, dir, n) }))
    .filter((x): x is { c: HostileCase; args: string[] } => x.args !== undefined)
    .filter(({ c }) => {
      const group = `${c.target} ${c.field}`;
      const i = seen.get(group) ?? 0;
      seen.set(group, i + 1);
      return i % 4 === 0;
    });

  it('takes cases of every runbook and every answer typed on a command line, as flags or an --input file', () => {
    expect(cli.length).toBeGreaterThanOrEqual(100);
    expect(new Set(cli.map(({ c }) => c.target))).toEqual(new Set([...RUNBOOK_TARGETS, 'approve', 'decide', 'diskReplaced', 'installDone']));
  });

  it(`exits 2 naming the field, with no stack trace, for each of the ${cli.length} cases`, async () => {
    const failures: string[] = [];
    let next = 0;
    const runOne = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= cli.length) return;
        const { c, args } = cli[i]!;
        const out = await runCli(args, env);
        tried.cli += 1;
        try {
          expect(out.code, `exit code; stderr: ${out.stderr}`).toBe(2);
          expect(out.stdout).toBe('');
          expect(out.stderr).toMatch(/^runbook: /);
          expectNamedRefusal(out.stderr, c.field);
        } catch (error) {
          failures.push(`${c.target} ${c.label} (${args.join(' ')}): ${(error as Error).message.split('\n').slice(0, 4).join(' | ')}`);
        }
      }
    };
    await Promise.all([runOne(), runOne()]);
    expect(failures).toEqual([]);
  }, 600_000);
});

describe('a passphrase line over the bound, typed at a terminal', () => {
  it('is refused before it is sealed, wiped, and the person is asked again', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const lines = [Buffer.alloc(MAX_SECRET_BYTES + 1, 0x70), Buffer.from('the right one')];
      const handedOut = [...lines];
      const sealed = await readSealedSecret({ interactive: true, close: () => undefined, read: async () => lines.shift()! }, generateSealingKey(), 'passphrase: ');
      tried.cli += 1;
      expect(sealed.sealed).toBe(SCHEME);
      expect(String(stderr.mock.calls[0]?.[0])).toBe(`the passphrase is longer than ${MAX_SECRET_BYTES} bytes; nothing was sent, type it again\n`);
      expect(handedOut.every((b) => b.every((byte) => byte === 0))).toBe(true);
    } finally {
      stderr.mockRestore();
    }
  });
});

// --- the codec server ------------------------------------------------------------------------------------------

describe('through the codec server\'s HTTP endpoints', () => {
  const TOKEN = 'hostile-token-0123456789abcdef';
  const MAX_BODY = 64 * 1024;
  let server: RunningCodecServer;
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const plain = (value: unknown) => ({ metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify(value)) });
  let deep: unknown = 'x';
  for (let i = 0; i < MAX_JSON_DEPTH + 10; i++) deep = [deep];

  beforeAll(async () => {
    const codec = new AesGcmCodec(parseCodecKeys(generateCodecKey('k1')));
    server = await startCodecServer({ codec, sealFor: generateSealingKey(), token: TOKEN, allowedOrigins: ['http://127.0.0.1:8233'], maxBodyBytes: MAX_BODY, log: () => undefined });
  });
  afterAll(async () => {
    await server?.close();
  });

  /** [name, path, body (string as is, else JSON), expected status, what the error names] */
  const cases: [string, string, unknown, number, RegExp][] = [
    ['a body over the bound', '/encode', 'x'.repeat(MAX_BODY + 1), 413, /body larger than/],
    ['an empty body', '/encode', '', 400, /body is not JSON/],
    ['not JSON', '/decode', '{"payloads": [', 400, /body is not JSON/],
    ['JSON null', '/encode', 'null', 400, /body must be \{"payloads"/],
    ['no payloads field', '/encode', { other: [] }, 400, /body must be \{"payloads"/],
    ['payloads not a list', '/decode', { payloads: 'x' }, 400, /body must be \{"payloads"/],
    ['too many payloads', '/encode', { payloads: Array.from({ length: MAX_PAYLOADS + 1 }, () => ({})) }, 413, /payloads: more than/],
    ['a payload that is not an object', '/encode', { payloads: [42] }, 400, /payloads\[0\] must be an object/],
    ['metadata that is a list', '/encode', { payloads: [{ metadata: [] }] }, 400, /payloads\[0\]\.metadata must be an object/],
    ['metadata not base64', '/encode', { payloads: [{ metadata: { encoding: 'json/plain!' }, data: '' }] }, 400, /payloads\[0\]\.metadata\.encoding must be a base64/],
    ['data not base64', '/decode', { payloads: [{ metadata: {}, data: 'not base64!' }] }, 400, /payloads\[0\]\.data must be a base64/],
    ['too many metadata entries', '/encode', { payloads: [{ metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, ''])) }] }, 400, /payloads\[0\]\.metadata: more than/],
    ['a metadata key with a line break', '/encode', { payloads: [{ metadata: { 'encoding\nx': b64('json/plain') } }] }, 400, /payloads\[0\]\.metadata: a key/],
    ['json/plain data that is not JSON', '/encode', { payloads: [{ metadata: { encoding: b64('json/plain') }, data: b64('{not json') }] }, 400, /payloads\[0\]: json\/plain data is not JSON/],
    ['a passphrase with a line break', '/encode', { payloads: [plain({ by: 'bob', passphrase: `${PLAINTEXT_SECRET}\nsecond` })] }, 400, /payloads\[0\] passphrase: the passphrase contains a line break/],
    ['a passphrase with NUL', '/encode', { payloads: [plain({ by: 'bob', passphrase: `${PLAINTEXT_SECRET}\0` })] }, 400, /payloads\[0\] passphrase: the passphrase contains a NUL/],
    ['an empty passphrase', '/encode', { payloads: [plain({ by: 'bob', passphrase: '' })] }, 400, /payloads\[0\] passphrase: the passphrase is empty/],
    ['a nested old passphrase with a line break', '/encode', { payloads: [plain({ a: [{ oldPassphrase: 'x\ny' }] })] }, 400, /payloads\[0\] a\[0\]\.oldPassphrase: /],
    ['JSON nested past the bound', '/encode', { payloads: [plain(deep)] }, 400, /nested deeper than/],
    ['a payload encrypted with another key', '/decode', { payloads: [{ metadata: { encoding: b64('binary/encrypted'), 'encryption-key-id': b64('k9') }, data: b64('garbage') }] }, 400, /cannot decode/],
    ['a path that is not an endpoint', '/encode/../../etc/passwd', { payloads: [] }, 404, /not found/],
  ];

  it.each(cases)('%s is refused with its status and names what is wrong', async (_, path, body, status, names) => {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    tried.codec += 1;
    expect(res.status).toBe(status);
    const text = await res.text();
    const { error } = JSON.parse(text) as { error: string };
    expect(error).toMatch(names);
    expect(text).not.toContain(PLAINTEXT_SECRET);
    expect(text).not.toMatch(/\bat \S+ \(/); // no stack frame
  });

  it('a body trickled past the bound without a Content-Length is cut off with 413', async () => {
    const chunks = (async function* () {
      for (let i = 0; i < 20; i++) yield new TextEncoder().encode('x'.repeat(8 * 1024));
    })();
    const res = await fetch(`${server.url}/encode`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: chunks as never, duplex: 'half',
    } as RequestInit).catch((error: unknown) => error as Error);
    tried.codec += 1;
    // Either the 413 arrives, or the server ends the connection while the client still sends: never a 2xx.
    if (res instanceof Response) expect(res.status).toBe(413);
  });
});

// --- the inventory loader ---------------------------------------------------------------------------------------

describe('through the inventory loader', () => {
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
  const host = { name: 'dom0-a', address: '192.0.2.10', kind: 'xen-dom0', hostKeys: { openssh: key }, guests: [{ name: 'web', config: '/etc/xen/web.cfg', dependsOn: [] }] };
  const valid = { ssh: { privateKeyPath: '/etc/runbooks/id_ed25519' }, hosts: [host], mail: { host: 'smtp.example.org', port: 25, from: 'runbooks@example.org', admins: ['admins@example.org'] } };
  const withHost = (change: Record<string, unknown>) => ({ ...valid, hosts: [{ ...host, ...change }] });
  const withGuest = (change: Record<string, unknown>) => withHost({ guests: [{ ...host.guests[0], ...change }] });

  const cases: [string, unknown, string][] = [
    ...['dom0; reboot', '-oProxyCommand=sh', '../x', '', 'DOM0', 'a\nb', 'dom0\u202e'].map((name): [string, unknown, string] => [`host name ${JSON.stringify(name)}`, withHost({ name }), 'hosts[0].name']),
    ...['a b', '$(reboot)', '', '-oProxyCommand=sh', '192.0.2.1\n'].map((address): [string, unknown, string] => [`address ${JSON.stringify(address)}`, withHost({ address }), 'hosts[0].address']),
    ...[0, 70000, '22', 1.5].map((port): [string, unknown, string] => [`port ${JSON.stringify(port)}`, withHost({ port }), 'hosts[0].port']),
    ...['root;id', '-l', 'u'.repeat(40), 'Root', 'ro ot'].map((user): [string, unknown, string] => [`user ${JSON.stringify(user)}`, withHost({ user }), 'hosts[0].user']),
    ['an unknown kind', withHost({ kind: 'toaster' }), 'hosts[0].kind'],
    ['a host key that is not one', withHost({ hostKeys: { openssh: 'not a key' } }), 'hosts[0].hostKeys.openssh'],
    ['two host keys on two lines', withHost({ hostKeys: { openssh: `${key}\n${key}` } }), 'hosts[0].hostKeys.openssh'],
    ['a host key comment with an override', withHost({ hostKeys: { openssh: `${key} root@\u202edom0` } }), 'hosts[0].hostKeys.openssh'],
    ['a location with a forged line', withHost({ location: 'rack 2\nSIMULATED: no' }), 'hosts[0].location'],
    ['a location with NUL', withHost({ location: 'rack\0 2' }), 'hosts[0].location'],
    ['a location with an override', withHost({ location: 'rack \u202e2' }), 'hosts[0].location'],
    ['a location too long', withHost({ location: 'x'.repeat(301) }), 'hosts[0].location'],
    ...['-x', '../x', 'a b', ''].map((name): [string, unknown, string] => [`guest name ${JSON.stringify(name)}`, withGuest({ name }), 'hosts[0].guests[0].name']),
    ...['/etc/xen/../../etc/shadow', '/etc/xen/-x.cfg', 'web.cfg', '/etc/xen/web.cfg\n/etc/shadow'].map((config): [string, unknown, string] => [`guest config ${JSON.stringify(config)}`, withGuest({ config }), 'hosts[0].guests[0].config']),
    ['a guest dependency that is a command', withGuest({ dependsOn: ['$(reboot)'] }), 'hosts[0].guests[0].dependsOn[0]'],
    ['a private key path with a line break', { ...valid, ssh: { privateKeyPath: '/etc/key\n/etc/other' } }, 'ssh.privateKeyPath'],
    ['an empty private key path', { ...valid, ssh: { privateKeyPath: '' } }, 'ssh.privateKeyPath'],
    ['a cluster of unknown hosts', { ...valid, clusters: [{ name: 'c1', kind: 'proxmox', hosts: ['nope'] }] }, 'clusters[0].hosts[0]'],
    ['a cluster kind unknown', { ...valid, clusters: [{ name: 'c1', kind: 'vmware', hosts: ['dom0-a'] }] }, 'clusters[0].kind'],
    ['a mail host that is a command', { ...valid, mail: { ...valid.mail, host: 'smtp; reboot' } }, 'mail.host'],
    ['a mail sender that is not an address', { ...valid, mail: { ...valid.mail, from: 'root\n@x' } }, 'mail.from'],
    ['a mail admin with a line break', { ...valid, mail: { ...valid.mail, admins: ['a@example.org\nBcc: evil@example.org'] } }, 'mail.admins[0]'],
    ['an unknown top-level key', { ...valid, passwords: { root: PLAINTEXT_SECRET } }, 'passwords'],
    ['no hosts', { ...valid, hosts: [] }, 'hosts'],
    ['a host listed twice', { ...valid, hosts: [host, host] }, 'hosts[1].name'],
  ];

  it.each(cases)('%s is refused naming the field', (_, raw, field) => {
    tried.inventory += 1;
    let message = '';
    try {
      parseInventory(raw, 'inv.json');
    } catch (error) {
      expect(error).toBeInstanceOf(InventoryError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/^inv\.json is invalid:\n/);
    expectNamedRefusal(message, field);
  });

  it('refuses a file that is not an inventory without quoting it: a private key, a huge file, a folder, nothing', () => {
    const dir = tempDir('hostile-inventory');
    const keyFile = join(dir, 'id_ed25519');
    writeFileSync(keyFile, `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA${PLAINTEXT_SECRET}\n-----END OPENSSH PRIVATE KEY-----\n`);
    const huge = join(dir, 'huge.json');
    writeFileSync(huge, `{"hosts": [${' '.repeat(5 * 1024 * 1024)}]}`);
    mkdirSync(join(dir, 'folder'));
    for (const [path, why] of [[keyFile, /is not JSON/], [huge, /is larger than \d+ bytes/], [join(dir, 'folder'), /is not a file/], [join(dir, 'missing.json'), /cannot read inventory .*ENOENT/]] as const) {
      tried.inventory += 1;
      let message = '';
      try {
        loadInventory(path);
      } catch (error) {
        expect(error).toBeInstanceOf(InventoryError);
        message = (error as Error).message;
      }
      expect(message).toMatch(why);
      expect(message).toContain(path);
      expect(message).not.toContain('BEGIN');
      expect(message).not.toContain(PLAINTEXT_SECRET);
    }
  });
});

// --- through Temporal, to a real worker in front of lab hosts ------------------------------------------------------

describe('through a real Temporal dev server and worker, in front of lab hosts', () => {
  let dir: string;
  let lab: Lab;
  let client: Client;
  let worker: WorkerProcess;
  let cliEnv: NodeJS.ProcessEnv;
  const HOSTS = ['dom0-hostile', 'dom0-hang', 'hpve1', 'hpve2'];

  const auditTotal = () => HOSTS.reduce((n, h) => n + lab.audit(h).length, 0);
  const cryptsetups = (audit: AuditEntry[]) => audit.filter((e) => /^(cryptsetup|cryptroot-unlock)/.test(e.command));

  beforeAll(async () => {
    dir = tempDir('hostile');
    const cluster = proxmoxCluster({ cluster: 'hostile', names: ['hpve1', 'hpve2'] });
    lab = await Lab.start({
      dir,
      subnet: 231,
      hosts: [
        presets.xenDom0Raid1('dom0-hostile', { failedSlot: 0 }),
        xenDom0WithGuests('dom0-hang', { bootDelayMs: 800, domains: { guest2: { hangsOnShutdown: true } } }),
        ...cluster.hosts,
      ],
      clusters: cluster.clusters,
    });
    const codecKeyFile = writeTestCodecKey(dir);
    writeTestSealingKey(dir);
    const sealingKeyFile = join(dir, 'sealing.key');
    worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile, taskQueue: TASK_QUEUE, env: { RUNBOOK_SEALING_KEY_FILE: sealingKeyFile }, logFile: join(dir, 'worker.log') });
    client = await codecClient(address, codecKeyFile);
    cliEnv = cliEnvironment({ address, dir, codecKeyFile, taskQueue: TASK_QUEUE, extra: { RUNBOOK_SEALING_PUBLIC_KEY_FILE: join(dir, 'sealing.pub') } });
  });

  afterAll(async () => {
    worker?.kill('SIGTERM');
    await worker?.stopped;
    await client?.connection.close();
    await lab?.stop();
  });

  /** A few cases of each kind per runbook: every runbook's input, sent as the Temporal UI or `temporal workflow start` would. */
  // vmRequest too: the intake starts it, but a person can from the UI.
  const starts = CASES.filter((c) => RUNBOOK_TARGETS.has(c.target) || c.target === 'vmRequest').filter((c, i, all) => all.findIndex((o) => o.target === c.target && o.label.split(':')[0] === c.label.split(':')[0]) === i
    || ['U+202E right-to-left override', 'out of /dev', 'an option', '99999999999999999999 days'].some((l) => c.label.endsWith(`: ${l}`)));

  it('fails every hostile start with InvalidInput naming the field, and no host receives a single command', async () => {
    expect(starts.length).toBeGreaterThanOrEqual(20);
    const before = auditTotal();
    const stamp = Date.now();
    const outcomes = await Promise.all(starts.map(async (c, i) => {
      const handle = await client.workflow.start(c.target, { taskQueue: TASK_QUEUE, workflowId: `hostile-${stamp}-${i}`, args: [c.value] });
      const error = await handle.result().then(() => undefined, (e: unknown) => e);
      return { c, error };
    }));
    for (const { c, error } of outcomes) {
      tried.temporal += 1;
      expect(error, `${c.target} ${c.label}`).toBeInstanceOf(WorkflowFailedError);
      const cause = (error as WorkflowFailedError).cause as { type?: string; message: string } | undefined;
      expect(cause?.type, `${c.target} ${c.label}`).toBe('InvalidInput');
      expectNamedRefusal(cause!.message, c.field);
    }
    const after = auditTotal();
    commandsFromHostile += after - before;
    expect(after - before).toBe(0);
  }, 300_000);

  /** Sends each hostile argument of `update` to a run that waits for it: each is refused, the run still waits, no command. */
  async function sendHostile(handle: WorkflowHandle, update: { name: string }, hosts: string[]): Promise<void> {
    const cases = CASES.filter((c) => c.target === update.name);
    const mark = hosts.map((h) => lab.audit(h).length);
    for (const c of cases) {
      const error = await handle.executeUpdate(update.name, { args: [c.value] }).then(() => undefined, (e: unknown) => e);
      tried.temporal += 1;
      expect(error, `${update.name} ${c.label}`).toBeInstanceOf(WorkflowUpdateFailedError);
      expectNamedRefusal((error as WorkflowUpdateFailedError).cause?.message ?? '', c.field);
    }
    expect((await handle.query(progressQuery)).waitingFor?.answerWith).toBe(update.name);
    const sent = hosts.reduce((n, h, i) => n + lab.audit(h).length - mark[i]!, 0);
    commandsFromHostile += sent;
    expect(sent).toBe(0);
  }

  it('refuses every hostile approve and decide in the Update validator: the run still waits, no host receives a command', async () => {
    const handle = await client.workflow.start('hypervisorReboot', {
      taskQueue: TASK_QUEUE, workflowId: `hostile-reboot-${Date.now()}`,
      args: [{ host: 'dom0-hang', reason: 'hostile input test', pollInterval: '1s', upTimeout: '30s', downTimeout: '30s', guestShutdownTimeout: '2s' }],
    });
    await waitingFor(handle, approveUpdate.name);
    await sendHostile(handle, approveUpdate, ['dom0-hang']);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', comment: 'after the hostile ones' }] });
    await waitingFor(handle, decideUpdate.name); // guest2 never stops
    await sendHostile(handle, decideUpdate, ['dom0-hang']);
    await handle.terminate('hostile input test done');
  }, 300_000);

  it('refuses every hostile diskReplaced: the run still waits, no host receives a command', async () => {
    const handle = await client.workflow.start('diskReplacement', {
      taskQueue: TASK_QUEUE, workflowId: `hostile-disk-${Date.now()}`, args: [{ host: 'dom0-hostile', resyncPollInterval: '1s' }],
    });
    await waitingFor(handle, diskReplacedUpdate.name);
    await sendHostile(handle, diskReplacedUpdate, ['dom0-hostile']);
    await handle.terminate('hostile input test done');
  }, 300_000);

  it('refuses every hostile submitPassphrase, and `runbook unlock` refuses a 1 MB line from a pipe before sending it: no try spent', async () => {
    const handle = await client.workflow.start('luksKeyRotation', {
      taskQueue: TASK_QUEUE, workflowId: `hostile-luks-${Date.now()}`, args: [{ host: 'hpve1' }],
    });
    const asked = await waitingFor(handle, submitPassphraseUpdate.name);
    await sendHostile(handle, submitPassphraseUpdate, ['hpve1']);

    const mark = lab.audit('hpve1').length;
    const out = await runCli(['unlock', handle.workflowId, '--by', 'bob'], cliEnv, `${'p'.repeat(1024 * 1024)}\n`);
    tried.temporal += 1;
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('the passphrase is longer than 1024 bytes; nothing was sent');
    expect(out.stderr).not.toMatch(/^\s+at /m);
    expect(out.stdout).toBe('');
    const sent = lab.audit('hpve1').slice(mark);
    commandsFromHostile += sent.length;
    expect(cryptsetups(sent)).toEqual([]);
    expect(sent).toEqual([]);
    // Still the same question, no try spent.
    expect((await handle.query(progressQuery)).waitingFor).toEqual(asked.waitingFor);
    await handle.terminate('hostile input test done');
  }, 300_000);

  it('a worker whose ssh.privateKeyPath is not a private key refuses to start, naming the path', async () => {
    const codecKeyFile = join(dir, 'codec.key');
    const publicKey = join(dir, 'client.pub');
    writeFileSync(publicKey, `${lab.inventory.hosts[0]!.hostKeys.openssh}\n`);
    for (const [keyPath, why] of [[lab.inventoryPath, 'not a key ssh can read'], [publicKey, 'it is a public key'], [join(dir, 'no-such-key'), 'cannot read it']] as const) {
      const inventoryPath = join(dir, `inventory-${why.replace(/\W+/g, '-')}.json`);
      writeFileSync(inventoryPath, JSON.stringify({ ...lab.inventory, ssh: { privateKeyPath: keyPath } }));
      const started = await startWorkerProcess({ address, inventoryPath, codecKeyFile, taskQueue: `${TASK_QUEUE}-nokey`, readyTimeoutMs: 30_000 }).then(
        (w) => { w.kill('SIGKILL'); return undefined; },
        (error: unknown) => error as Error,
      );
      tried.worker += 1;
      expect(started, keyPath).toBeInstanceOf(Error);
      expect(started!.message).toContain(`worker failed: ssh.privateKeyPath ${keyPath}: `);
      expect(started!.message).toContain(why);
      expect(started!.message).not.toContain('"hosts"');
    }
  }, 120_000);

  it('eventually leaves the dev server with no hostile run still running', async () => {
    await eventually('no hostile run running', async () => {
      for await (const run of client.workflow.list({ query: 'ExecutionStatus = "Running"' })) if (run.workflowId.startsWith('hostile-')) return undefined;
      return true;
    }, 30_000);
  });
});
