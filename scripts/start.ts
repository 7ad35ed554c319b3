/**
 * `npm start` (node dist/scripts/start.js): the whole stack in the foreground.
 *
 *   - a Temporal dev server on 127.0.0.1:7233 (UI on :8233, data in .data/temporal.db),
 *     unless an address is configured (TEMPORAL_ADDRESS, or the temporal CLI's TOML profile: common/temporal.ts);
 *   - the payload codec key .data/codec.key (created once), unless RUNBOOK_CODEC_KEY or
 *     RUNBOOK_CODEC_KEY_FILE is set;
 *   - the simulated lab (in this process), unless RUNBOOK_INVENTORY is set, with its mailbox:
 *     an SMTP sink on 127.0.0.1:2525 (or a free port) writing the admins' mail to .lab/mail/, and the lab's
 *     request mailbox (Dovecot IMAP) and DNS zone (Knot): lab/mail-services.ts;
 *   - the sealing key pair .data/sealing.key (0600, worker) and .data/sealing.pub (senders), created once,
 *     unless RUNBOOK_SEALING_KEY_FILE and RUNBOOK_SEALING_PUBLIC_KEY_FILE are set;
 *   - the codec server (node dist/codec-server/main.js) on 127.0.0.1:8234 (RUNBOOK_CODEC_PORT), before the dev
 *     server, whose UI gets it as codec endpoint; its token in .data/codec.token unless RUNBOOK_CODEC_TOKEN(_FILE);
 *   - the worker (node dist/worker/main.js), its Prometheus metrics on 127.0.0.1:9464 (RUNBOOK_METRICS_PORT).
 *
 * The dev server, the codec server and the worker are restarted when they die (scripts/supervisor.ts: 1 s, then
 * doubling up to 30 s while they keep dying), each death and restart said on the console. Their ports are checked
 * before each start: a port in use is reported as such, with what holds it (scripts/ports.ts).
 * The lab takes up the hosts' state and audit the previous `npm start` left in the lab folder (same hosts), so a
 * resumed run meets its hosts as it left them; `npm start -- --fresh-lab` starts from the presets, audits empty.
 *
 * RUNBOOK_DATA_DIR, RUNBOOK_LAB_DIR, RUNBOOK_LAB_SUBNET (127.0.N.x), RUNBOOK_TEMPORAL_PORT and RUNBOOK_UI_PORT move
 * the folders, the lab and the ports, e.g. to run a second stack beside this one. Every RUNBOOK_* name is parsed
 * once, below, by common/settings.ts; the children get theirs through their environment.
 *
 * Ctrl-C / SIGTERM stops the worker, then the lab, then the dev server, and exits 0.
 * A second Ctrl-C kills whatever is left at once.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { writeLocalStack } from '../common/local-stack.js';
import { devServerSearchAttributeFlags } from '../common/search-attributes.js';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { repoRoot } from './paths.js';
import { assertPortFree, PortInUseError } from './ports.js';
import { signalGroup, Supervised, type SupervisorOptions } from './supervisor.js';
import { temporalCliPath } from './temporal-bin.js';
import { devServerSqliteFlags } from './dev-server-sqlite.js';
import { codecToken } from '../codec-server/main.js';
import { ensureSealingKeyFiles, sealingKeyPaths } from '../common/sealing.js';
import { readSettings } from '../common/settings.js';
import { connectionOptions, DEFAULT_NAMESPACE, temporalSettings, type TemporalSettings } from '../common/temporal.js';
import { spawnTethered } from '../common/tether.js';
import { WORKER_ENV, WORKER_NODE_FLAGS } from '../worker/process.js';
import { REQUEST_ADDRESS, startLabMail, type LabMail } from '../lab/mail-services.js';

const ROOT = repoRoot();
const USAGE = 'usage: npm start [-- --fresh-lab]   (--fresh-lab: the lab hosts from their presets, audits emptied)';
const FRESH_LAB = (() => {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--fresh-lab');
  if (unknown.length) {
    console.error(`[start] unknown argument ${unknown.join(' ')}\n${USAGE}`);
    process.exit(2);
  }
  return args.includes('--fresh-lab');
})();
// Overridable so that a second stack (the npm start test) can run beside a developer's own.
const SETTINGS = (() => {
  try {
    return readSettings([
      'dataDir', 'labDir', 'labSubnet', 'temporalPort', 'uiPort', 'inventory',
      'codecKey', 'codecKeyFile', 'sealingKeyFile', 'sealingPublicKeyFile', 'codecToken', 'codecTokenFile',
      'codecListen', 'codecPort', 'codecAllowedOrigins', 'metricsPort',
    ]);
  } catch (error) {
    console.error(`[start] ${(error as Error).message}`); // before anything started: nothing to stop
    process.exit(2);
  }
})();
const DATA_DIR = SETTINGS.dataDir;
const LAB_DIR = SETTINGS.labDir;
const LAB_SUBNET = SETTINGS.labSubnet;
const DEV_IP = '127.0.0.1';
const DEV_PORT = SETTINGS.temporalPort;
const UI_PORT = SETTINGS.uiPort;
const METRICS_PORT = SETTINGS.metricsPort ?? 9464;
const WORKER_STOP_TIMEOUT_MS = 30_000;
const SERVER_STOP_TIMEOUT_MS = 15_000;
const LAB_STOP_TIMEOUT_MS = 20_000;

/** What scripts/start.ts expects of lab/lab.ts (kept loose so this file builds without it). */
interface RunningLab {
  inventoryPath: string;
  stop(): Promise<void> | void;
}
interface LabModule {
  Lab: {
    start(opts: { dir: string; subnet: number; hosts: unknown[]; clusters: unknown[]; resume: boolean }): Promise<RunningLab & { resumed: { yes: boolean; reason?: string } }>;
  };
  demoLab(): { hosts: unknown[]; clusters: unknown[] };
}

const log = (msg: string): void => console.log(`[start] ${msg}`);
const warn = (msg: string): void => console.error(`[start] ${msg}`);

let stopping = false;
let lab: RunningLab | undefined;
let labStarting: Promise<RunningLab> | undefined;
let mailbox: LabMail | undefined;
// Children run in their own process group (detached), so that a terminal's Ctrl-C reaches only us and we stop them
// in order. Tethered (common/tether.ts): if we die without stopping them (SIGKILL, crash), they die too.
let devServer: Supervised | undefined;
let worker: Supervised | undefined;
let codecServer: Supervised | undefined;
const supervision: SupervisorOptions = { log, warn, stopping: () => stopping };

// Last resort (uncaught error, process.exit elsewhere): no orphans.
process.on('exit', () => {
  for (const s of [worker, devServer, codecServer]) signalGroup(s?.child, 'SIGKILL');
});

async function shutdown(code: number): Promise<never> {
  if (stopping) {
    // second call (e.g. a second Ctrl-C): be quick
    for (const s of [worker, devServer, codecServer]) signalGroup(s?.child, 'SIGKILL');
    process.exit(code || 1);
  }
  stopping = true;
  await worker?.stop(WORKER_STOP_TIMEOUT_MS);
  if (!lab && labStarting) {
    log('waiting for the lab to finish starting, to stop it...');
    lab = await labStarting.catch(() => undefined);
  }
  if (lab) {
    log('stopping the lab...');
    try {
      await Promise.race([
        Promise.resolve(lab.stop()),
        sleep(LAB_STOP_TIMEOUT_MS, undefined, { ref: false }).then(() => {
          throw new Error(`timed out after ${LAB_STOP_TIMEOUT_MS / 1000} s`);
        }),
      ]);
    } catch (err) {
      warn(`lab stop failed: ${String(err)}`);
    }
  }
  await mailbox?.stop().catch((err: unknown) => warn(`mailbox stop failed: ${String(err)}`));
  await devServer?.stop(SERVER_STOP_TIMEOUT_MS);
  await codecServer?.stop(SERVER_STOP_TIMEOUT_MS);
  log('stopped.');
  process.exit(code);
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (stopping) {
      warn(`${sig} again: killing everything now`);
    }
    void shutdown(0);
  });
}

/** The dev server, kept up: a restart finds its data in temporal.db, runs and all. */
function devServerSpec(uiCodecEndpoint: string, temporal: TemporalSettings): Supervised {
  mkdirSync(DATA_DIR, { recursive: true });
  const bin = temporalCliPath();
  const args = [
    'server', 'start-dev',
    '--ip', DEV_IP,
    '--port', String(DEV_PORT),
    '--ui-port', String(UI_PORT),
    '--db-filename', join(DATA_DIR, 'temporal.db'),
    '--namespace', 'default',
    '--log-level', 'warn',
    '--ui-codec-endpoint', uiCodecEndpoint,
    ...devServerSearchAttributeFlags(),
    ...devServerSqliteFlags(),
  ];
  return new Supervised({
    name: 'Temporal dev server',
    async check() {
      await assertPortFree(DEV_IP, DEV_PORT, 'the Temporal dev server', 'RUNBOOK_TEMPORAL_PORT');
      await assertPortFree(DEV_IP, UI_PORT, 'the Temporal Web UI', 'RUNBOOK_UI_PORT');
    },
    spawn() {
      // The endpoint carries the codec token: keep it out of the terminal.
      log(`starting Temporal dev server: ${bin} ${args.join(' ').replace(/\/t\/[^/\s]+/, '/t/<token>')}`);
      const child = spawnTethered(bin, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      child.on('error', (err) => warn(`Temporal dev server: ${err.message}`));
      // While we stop it, its own system workers complain that it stops ("Failed to poll for task", dial errors): not news.
      child.stdout!.on('data', (chunk: Buffer) => void (stopping || process.stdout.write(chunk)));
      child.stderr!.on('data', (chunk: Buffer) => void (stopping || process.stderr.write(chunk)));
      return child;
    },
    async ready() {
      await waitForServer(temporal, 60_000);
      if (stopping) return;
      // Our CLI beside this stack finds the server there without a variable.
      writeLocalStack(DATA_DIR, { temporalAddress: temporal.address });
      log(`Temporal dev server ready at ${temporal.address}; UI: http://${DEV_IP}:${UI_PORT}`);
    },
  }, supervision);
}

async function waitForServer(temporal: TemporalSettings, timeoutMs: number): Promise<void> {
  const { address, namespace } = temporal;
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    if (stopping) return;
    try {
      const connection = await Connection.connect({ ...connectionOptions(temporal), connectTimeout: 2_000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastErr = err;
      await sleep(500);
    }
  }
  throw new Error(`Temporal at ${address} (namespace ${namespace}) did not answer within ${timeoutMs / 1000} s: ${String(lastErr)}`);
}

function ensureCodecKey(env: NodeJS.ProcessEnv): void {
  if (SETTINGS.codecKey || SETTINGS.codecKeyFile) return;
  mkdirSync(DATA_DIR, { recursive: true });
  const keyFile = join(DATA_DIR, 'codec.key');
  if (!existsSync(keyFile)) {
    writeFileSync(keyFile, `k1:${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    log(`created payload codec key ${keyFile} (keep it: without it the stored runbook history cannot be read)`);
  }
  env.RUNBOOK_CODEC_KEY_FILE = keyFile;
}

function ensureSealingKey(env: NodeJS.ProcessEnv): void {
  if (SETTINGS.sealingKeyFile || SETTINGS.sealingPublicKeyFile) {
    // Half a pair would have senders seal for one key and the worker hold another.
    if (!SETTINGS.sealingKeyFile || !SETTINGS.sealingPublicKeyFile) {
      throw new Error('set both RUNBOOK_SEALING_KEY_FILE and RUNBOOK_SEALING_PUBLIC_KEY_FILE, or neither (npm start then uses .data/sealing.key and .data/sealing.pub)');
    }
    return;
  }
  mkdirSync(DATA_DIR, { recursive: true });
  const { privateFile, publicFile } = sealingKeyPaths(DATA_DIR);
  if (ensureSealingKeyFiles(privateFile, publicFile)) {
    log(`created the passphrase sealing key ${privateFile} (worker only) and ${publicFile} (for senders)`);
  }
  env.RUNBOOK_SEALING_KEY_FILE = privateFile;
  env.RUNBOOK_SEALING_PUBLIC_KEY_FILE = publicFile;
}

function ensureCodecToken(env: NodeJS.ProcessEnv): string {
  if (!SETTINGS.codecToken && !SETTINGS.codecTokenFile) {
    const tokenFile = join(DATA_DIR, 'codec.token');
    if (!existsSync(tokenFile)) writeFileSync(tokenFile, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    env.RUNBOOK_CODEC_TOKEN_FILE = tokenFile;
    return codecToken({ codecTokenFile: tokenFile, codecToken: undefined });
  }
  return codecToken(SETTINGS);
}

/** The codec server as a child, without the private sealing key in its environment; ready once it listens. */
async function startCodecServer(env: NodeJS.ProcessEnv): Promise<string> {
  const token = ensureCodecToken(env);
  const port = SETTINGS.codecPort;
  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    RUNBOOK_CODEC_LISTEN: SETTINGS.codecListen,
    RUNBOOK_CODEC_PORT: String(port),
    RUNBOOK_CODEC_ALLOWED_ORIGINS: (SETTINGS.codecAllowedOrigins ?? [`http://${DEV_IP}:${UI_PORT}`, `http://localhost:${UI_PORT}`]).join(','),
  };
  delete childEnv.RUNBOOK_SEALING_KEY_FILE;
  const main = join(ROOT, 'dist', 'codec-server', 'main.js');
  codecServer = new Supervised({
    name: 'codec server',
    check: () => assertPortFree(SETTINGS.codecListen, port, 'the codec server', 'RUNBOOK_CODEC_PORT'),
    spawn() {
      const child = spawnTethered(process.execPath, [main], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
      child.stdout?.pipe(process.stdout);
      return child;
    },
    ready: (child) => new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('the codec server did not say it listens within 30 s')), 30_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('codec server listening')) { clearTimeout(timer); resolve(); }
      });
      child.once('error', (error) => { clearTimeout(timer); reject(error); });
    }),
  }, supervision);
  await codecServer.start();
  const url = `http://${DEV_IP}:${port}`;
  log(`codec server: ${url} (the Web UI uses ${url}/t/<token>; token in ${SETTINGS.codecToken ? 'RUNBOOK_CODEC_TOKEN' : env.RUNBOOK_CODEC_TOKEN_FILE})`);
  log(`  temporal CLI: --codec-endpoint ${url} --codec-auth "Bearer ${SETTINGS.codecToken ? '$RUNBOOK_CODEC_TOKEN' : `$(cat ${env.RUNBOOK_CODEC_TOKEN_FILE})`}"`);
  return `${url}/t/${encodeURIComponent(token)}`;
}

function banner(lines: string[]): string {
  const width = Math.max(...lines.map((l) => l.length));
  const bar = '#'.repeat(width + 8);
  return [bar, ...lines.map((l) => `###  ${l.padEnd(width)}  ###`), bar].join('\n');
}

async function startLab(): Promise<RunningLab> {
  // A computed specifier: this file must build even before lab/ exists.
  const spec = new URL('../lab/lab.js', import.meta.url).href;
  const { Lab, demoLab } = (await import(spec)) as LabModule;
  mkdirSync(LAB_DIR, { recursive: true });
  const started = await Lab.start({ dir: LAB_DIR, subnet: LAB_SUBNET, ...demoLab(), resume: !FRESH_LAB });
  if (started.resumed.yes) log(`lab: the hosts are as the previous run left them, audits kept (${LAB_DIR}/state, ${LAB_DIR}/audit); npm start -- --fresh-lab resets them`);
  else log(`lab: fresh hosts from the presets, empty audits (${started.resumed.reason})`);
  console.log(
    '\n' +
      banner([
        'THE HOSTS ARE SIMULATED: THIS IS THE LAB, NOT YOUR INFRASTRUCTURE.',
        '',
        'dom0-a, dom0-b, dom0-c are fake Xen dom0s (software RAID1; dom0-c runs the page\'s guests)',
        'and pve1, pve2, pve3 a fake Proxmox cluster "fma" with encrypted roots and LUNs, all on',
        started.resumed.yes
          ? '127.0.0.0/8, as the last npm start left them (npx runbook-lab status). Nothing real is touched.'
          : '127.0.0.0/8. dom0-a has a failed disk in slot 0. Nothing real is touched.',
        'Lab passphrases: "lab pve1 root passphrase", "lab fma shared LUN passphrase",',
        '"lab pve1 local passphrase" (and the same for pve2, pve3).',
        `Inventory: ${started.inventoryPath}`,
        '',
        'Play the part of the people on site, in another terminal:',
        '  npx runbook-lab swap-disk HOST SLOT     e.g. npx runbook-lab swap-disk dom0-a 0',
        '  npx runbook-lab --help                  the other lab commands',
        '',
        'To run against real hosts: RUNBOOK_INVENTORY=/path/to/inventory npm start',
      ]) +
      '\n',
  );
  return started;
}

function startWorker(env: NodeJS.ProcessEnv): void {
  const main = join(ROOT, 'dist', 'worker', 'main.js');
  env.RUNBOOK_METRICS_PORT = String(METRICS_PORT);
  worker = new Supervised({
    name: 'worker',
    check: () => assertPortFree(DEV_IP, METRICS_PORT, "the worker's metrics", 'RUNBOOK_METRICS_PORT'),
    spawn() {
      log('starting the worker (node dist/worker/main.js)');
      const child = spawnTethered(process.execPath, [...WORKER_NODE_FLAGS, main], { cwd: ROOT, env: { ...env, ...WORKER_ENV }, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
      child.on('error', (err) => warn(`worker: ${err.message}`));
      return child;
    },
    // It says "worker running" itself; one that dies at once is restarted like one that dies later.
    ready: async () => undefined,
  }, supervision);
  log(`worker metrics (Prometheus): http://${DEV_IP}:${METRICS_PORT}/metrics`);
  worker.start().catch((err: unknown) => {
    warn(`the worker could not start: ${(err as Error).message}`);
    void shutdown(1);
  });
}

async function main(): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const temporal = temporalSettings(env);

  ensureCodecKey(env);
  ensureSealingKey(env);
  const uiCodecEndpoint = await startCodecServer(env);
  if (stopping) return;

  if (temporal.addressConfigured) {
    log(`using the Temporal server at ${temporal.address}, namespace ${temporal.namespace} (TEMPORAL_ADDRESS or the temporal CLI's profile)`);
    await waitForServer(temporal, 60_000);
  } else {
    // The children find the dev server the standard way.
    env.TEMPORAL_ADDRESS = `${DEV_IP}:${DEV_PORT}`;
    env.TEMPORAL_NAMESPACE = DEFAULT_NAMESPACE;
    devServer = devServerSpec(uiCodecEndpoint, { ...temporal, address: env.TEMPORAL_ADDRESS, namespace: DEFAULT_NAMESPACE });
    await devServer.start();
    if (stopping) return;
  }

  if (SETTINGS.inventory) {
    log(`using the inventory ${SETTINGS.inventory} (RUNBOOK_INVENTORY)`);
  } else {
    labStarting = startLab();
    lab = await labStarting;
    if (stopping) return;
    env.RUNBOOK_INVENTORY = lab.inventoryPath;
    // Before the worker reads the inventory: the lab's mail section points at a local sink.
    const mailDir = join(LAB_DIR, 'mail');
    mailbox = await startLabMail({ dir: LAB_DIR, subnet: LAB_SUBNET, inventoryPath: lab.inventoryPath, fresh: FRESH_LAB });
    log(`lab mail: SMTP sink on 127.0.0.1:${mailbox.smtp.port}; mail to the admins lands in ${mailDir}/ (.eml files)`);
    log(`lab mail: mail to ${REQUEST_ADDRESS} is delivered to the request mailbox, IMAP ${mailbox.imap.host}:${mailbox.imap.port} (Dovecot, Maildir in ${LAB_DIR}/imap); lab DNS: zone lab.invalid on ${mailbox.dns.host}:${mailbox.dns.port} (Knot, TSIG updates)`);
    log(`lab mail: send a request as the member alice (the lab DKIM-signs it): curl -sS smtp://127.0.0.1:${mailbox.smtp.port} --mail-from alice@lab.invalid --mail-rcpt ${REQUEST_ADDRESS} --upload-file request.eml (README: "Member requests by mail")`);
  }

  startWorker(env);
}

main().catch((err: unknown) => {
  // A port in use or a child dead before it was ready: the message says it all; anything else, the stack too.
  const known = err instanceof PortInUseError || (err instanceof Error && /exited before it was ready/.test(err.message));
  warn(`failed: ${err instanceof Error ? (known ? err.message : (err.stack ?? err.message)) : String(err)}`);
  void shutdown(1);
});
