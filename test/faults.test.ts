/**
 * Faults that land inside host changes (issue 13, item 9): the lab holds a command after receiving it and before
 * applying it (`slow`), so the worker is SIGKILLed *during* the sfdisk write, `mdadm --add`, `qm migrate`, `reboot`
 * and `cryptroot-unlock`, and during the Update handlers (an answer sent while the worker is down, a worker killed
 * while the handler runs its activity). The host still makes the change; the restarted worker's guarded steps find
 * it made. Also: the SSH session of a command killed (the connection drops, the host applies it), and the Temporal
 * dev server killed and restarted on its database mid-run. Each run completes, each change applied once.
 * Real dev servers, real worker processes, lab subnet 219.
 */
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sealSecret, type SealingKey } from '../common/sealing.js';
import { runControl } from '../lab/control.js';
import { proxmoxCluster, proxmoxPassphrase } from '../lab/hosts/proxmox-node.js';
import { Lab, presets } from '../lab/lab.js';
import { approveUpdate, diskReplacedUpdate } from '../workflows/messages.js';
import type { DiskReplacementResult } from '../workflows/diskReplacement.js';
import { answer, answerPassphrases, asked, auditMark, auditSince, planOfRun } from './helpers/drive.js';
import { changesByHost, codecClient, eventually, hostChanges, planByHost, tempDir } from './helpers/runbooks.js';
import { startDevServer, type DevServer } from './helpers/dev-server.js';
import { writeTestCodecKey, writeTestSealingKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';

const address = inject('temporalAddress');
const TASK_QUEUE = 'faults';
const FP = ['fp1', 'fp2', 'fp3'];
let dir: string;
let lab: Lab;
let client: Client;
let codecKeyFile: string;
let sealingKey: SealingKey;
let worker: WorkerProcess | undefined;

const workerOptions = (at = address, taskQueue = TASK_QUEUE) => ({
  address: at, taskQueue, inventoryPath: lab.inventoryPath, codecKeyFile, logFile: join(dir, 'worker.log'),
  env: { RUNBOOK_SEALING_KEY_FILE: join(dir, 'sealing.key') },
});

/** Hold the commands matching `pattern` on `host` for `ms` after they are received (the first `times`), as a test would with `runbook-lab slow`. */
function slow(host: string, pattern: string, ms: number, times = 1): Promise<unknown> {
  return runControl(lab, { type: 'control', op: 'slow', args: [host, pattern, String(ms), String(times)] });
}

/** Resolves once a command matching `re` was received by `host` and is not answered yet. */
function underWay(host: string, re: RegExp): Promise<true> {
  return eventually(`${re} under way on ${host}`, () => lab.faults.underWay().some((c) => c.host === host && re.test(c.command)) || undefined, 240_000);
}

async function killWorker(): Promise<void> {
  worker!.kill('SIGKILL');
  await worker!.stopped;
}

async function restartWorker(): Promise<void> {
  worker = await startWorkerProcess(workerOptions());
}

/** Commands that succeeded on `host` and match `re`, as its audit recorded them. */
const applied = (host: string, re: RegExp): string[] => lab.audit(host).filter((e) => e.exitCode === 0 && re.test(e.command)).map((e) => e.command);

function start(type: string, input: Record<string, unknown>, c = client, taskQueue = TASK_QUEUE): Promise<WorkflowHandle> {
  return c.workflow.start(type, { taskQueue, workflowId: `faults-${type}-${Date.now()}`, args: [input] });
}

const DISK_CHANGES = (failed: string, fresh: string) => [
  `mdadm --manage /dev/md1 --remove /dev/${failed}3`, `mdadm --manage /dev/md0 --remove /dev/${failed}2`, `sfdisk /dev/${fresh}`,
  `mdadm --manage /dev/md1 --add /dev/${fresh}3`, `mdadm --manage /dev/md0 --add /dev/${fresh}2`, `grub-install /dev/${fresh}`,
];

beforeAll(async () => {
  dir = tempDir('faults');
  const fma = proxmoxCluster({ cluster: 'ffma', names: FP, bootDelayMs: 800, unlockBootDelayMs: 300 });
  lab = await Lab.start({
    dir, subnet: 219,
    hosts: [
      presets.xenDom0Raid1('f-disk', { failedSlot: 0 }),
      presets.xenDom0Raid1('f-drop', { failedSlot: 0 }),
      presets.xenDom0Raid1('f-srv', { failedSlot: 0 }),
      ...fma.hosts,
    ],
    clusters: fma.clusters,
  });
  codecKeyFile = writeTestCodecKey(dir);
  sealingKey = writeTestSealingKey(dir);
  await restartWorker();
  client = await codecClient(address, codecKeyFile);
});

afterAll(async () => {
  worker?.kill('SIGKILL');
  await worker?.stopped;
  await client?.connection.close();
  await lab?.stop();
});

describe('a worker killed inside a host change', () => {
  it('disk replacement: answer sent while the worker is down, killed in the Update handler, during the sfdisk write and during mdadm --add', async () => {
    await slow('f-disk', '/^sfdisk --dump /', 3000); // the handler's look at the new disk
    await slow('f-disk', '/^sfdisk /dev/sd[a-z]$/', 3000);
    await slow('f-disk', '/^mdadm --manage \\S+ --add /', 3000);
    const handle = await start('diskReplacement', { host: 'f-disk', resyncPollInterval: '1s' });
    await asked(handle, diskReplacedUpdate.name);
    lab.swapDisk('f-disk', 0, { serial: 'ZFAULT01' });

    await killWorker();
    const answered = answer(handle, diskReplacedUpdate, { by: 'camille' }); // the worker is down
    await new Promise((r) => setTimeout(r, 2000));
    await restartWorker();
    for (const re of [/^sfdisk --dump /, /^sfdisk \/dev\/sd[a-z]$/, /^mdadm --manage \S+ --add /]) {
      await underWay('f-disk', re);
      await killWorker();
      await restartWorker();
    }
    await answered;
    const result = (await handle.result()) as DiskReplacementResult;
    expect(result.arrays.every((a) => a.health === 'UU')).toBe(true);
    // The interrupted commands were applied (by the host, after the worker died), and none twice.
    expect(hostChanges(lab.audit('f-disk'))).toEqual(DISK_CHANGES('sda', 'sdc'));
  }, 400_000);

  /** A planned reboot of `host`, approved (while the worker is down); the worker killed during each of `during`. */
  async function rebootKilledDuring(host: string, during: RegExp[]): Promise<void> {
    const mark = auditMark(lab, FP);
    for (const re of during) await slow(host, `/${re.source}/`, 3000);
    const handle = await start('hypervisorReboot', { host, reason: 'faults', pollInterval: '1s', upTimeout: '5 minutes', downTimeout: '5 minutes' });
    await asked(handle, approveUpdate.name);
    await killWorker();
    const approved = answer(handle, approveUpdate, { by: 'alice' });
    await new Promise((r) => setTimeout(r, 2000));
    await restartWorker();
    await approved;
    const passphrases = answerPassphrases(handle, (what) => sealSecret(sealingKey,
      proxmoxPassphrase({}, what.includes('system disk') ? 'root' : what.includes('vg_fma_luks') ? 'shared' : 'local', host)));
    for (const re of during) {
      await underWay(host, re);
      await killWorker();
      await restartWorker();
    }
    await passphrases;
    await handle.result();
    expect(applied(host, /^reboot$/)).toHaveLength(1);
    expect(applied(host, /^cryptroot-unlock$/)).toHaveLength(1);
    // Per host, every command that changed it is the plan's, once, in order.
    expect(changesByHost(auditSince(lab, mark))).toEqual(planByHost(await planOfRun(handle)));
  }

  it('Proxmox reboot: approval sent while the worker is down, killed during qm migrate and during reboot', async () => {
    await rebootKilledDuring('fp1', [/^qm migrate /, /^reboot$/]);
  }, 400_000);

  // A passphrase try is never retried (it would spend a host try unseen): after a crash during one, the run looks
  // at the host (workflows/unlock.ts) and asks again only if the disk is still locked.
  it('Proxmox reboot: killed during cryptroot-unlock, the run looks at the host before asking again', async () => {
    await rebootKilledDuring('fp2', [/^cryptroot-unlock$/]);
  }, 400_000);
});

describe('an SSH session killed mid-command', () => {
  it('the step is retried, finds the change made and does not apply it again; the run completes', async () => {
    await slow('f-drop', '/^sfdisk /dev/sd[a-z]$/', 20_000);
    await slow('f-drop', '/^mdadm --manage \\S+ --add /', 20_000);
    const handle = await start('diskReplacement', { host: 'f-drop', resyncPollInterval: '1s' });
    await asked(handle, diskReplacedUpdate.name);
    lab.swapDisk('f-drop', 0, { serial: 'ZFAULT02' });
    const answered = answer(handle, diskReplacedUpdate, { by: 'camille' });
    for (const pattern of ['/^sfdisk \\/dev\\/sd[a-z]$/', '/^mdadm --manage \\S+ --add /']) {
      await underWay('f-drop', new RegExp(pattern.slice(1, -1)));
      expect(await runControl(lab, { type: 'control', op: 'drop-session', host: 'f-drop', args: [pattern] })).toMatchObject({ killed: expect.any(Number) });
    }
    await answered;
    const result = (await handle.result()) as DiskReplacementResult;
    expect(result.arrays.every((a) => a.health === 'UU')).toBe(true);
    expect(hostChanges(lab.audit('f-drop'))).toEqual(DISK_CHANGES('sda', 'sdc'));
  }, 300_000);
});

describe('the Temporal dev server killed and restarted on its database mid-run', () => {
  let server: DevServer | undefined;
  let serverWorker: WorkerProcess | undefined;
  afterAll(async () => {
    serverWorker?.kill('SIGKILL');
    await serverWorker?.stopped;
    await server?.stop();
  });

  it('while the run waits for a person and while mdadm --add runs: the run completes, each change once', async () => {
    server = await startDevServer(join(dir, 'temporal.db'));
    serverWorker = await startWorkerProcess(workerOptions(server.address, 'faults-server'));
    const own = await codecClient(server.address, codecKeyFile);
    try {
      await slow('f-srv', '/^mdadm --manage \\S+ --add /', 6000);
      const handle = await start('diskReplacement', { host: 'f-srv', resyncPollInterval: '1s' }, own, 'faults-server');
      await asked(handle, diskReplacedUpdate.name);
      await server.restart();
      lab.swapDisk('f-srv', 0, { serial: 'ZFAULT03' });
      const answered = answer(handle, diskReplacedUpdate, { by: 'camille' });
      await underWay('f-srv', /^mdadm --manage \S+ --add /);
      await server.restart();
      await answered;
      const result = (await handle.result()) as DiskReplacementResult;
      expect(result.arrays.every((a) => a.health === 'UU')).toBe(true);
      expect(hostChanges(lab.audit('f-srv'))).toEqual(DISK_CHANGES('sda', 'sdc'));
      expect(serverWorker.proc.exitCode, 'the worker rode out the server restarts').toBeNull();
    } finally {
      await own.connection.close();
    }
  }, 300_000);
});
