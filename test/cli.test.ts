/**
 * `npx runbook` as a person types it: the built CLI (bin/runbook.js) as a child process, against the suite's dev
 * server, a real worker and a lab host. What is checked is what the person reads and what happened on the host.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Lab, presets } from '../lab/lab.js';
import type { DiskReplacementResult } from '../workflows/diskReplacement.js';
import { diskReplacedUpdate } from '../workflows/messages.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';
import { codecClient, hostChanges, tempDir, waitingFor } from './helpers/runbooks.js';

const address = inject('temporalAddress');
const TASK_QUEUE = 'runbooks-cli';
const BIN = fileURLToPath(new URL('../bin/runbook.js', import.meta.url));
let lab: Lab;
let client: Client;
let worker: WorkerProcess;
let cliEnv: NodeJS.ProcessEnv;

/** Runs `runbook ARGS…` without blocking this process (the lab answers the worker's SSH from here). */
function runbook(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: cliEnv, timeout: 90_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

async function exists(workflowId: string): Promise<boolean> {
  return client.workflow.getHandle(workflowId).describe().then(() => true, () => false);
}

beforeAll(async () => {
  const dir = tempDir('cli');
  lab = await Lab.start({ dir, subnet: 215, hosts: [presets.xenDom0Raid1('dom0-cli', { failedSlot: 0 }), presets.xenDom0Raid1('dom0-typo', { failedSlot: 0 })] });
  const codecKeyFile = writeTestCodecKey(dir);
  worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile, taskQueue: TASK_QUEUE });
  client = await codecClient(address, codecKeyFile);
  cliEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: 'default',
    RUNBOOK_INVENTORY: lab.inventoryPath,
    RUNBOOK_CODEC_KEY_FILE: codecKeyFile,
    RUNBOOK_TASK_QUEUE: TASK_QUEUE,
  };
  delete cliEnv.RUNBOOK_CODEC_KEY;
});

afterAll(async () => {
  worker?.kill('SIGTERM');
  await worker?.stopped;
  await client?.connection.close();
  await lab?.stop();
});

describe('npx runbook', () => {
  it('starts a disk replacement from flags, lists it, shows its progress, takes the operator answer and prints the result', async () => {
    const id = `cli-disk-${Date.now()}`;
    const survivor = lab.state('dom0-cli').disks.find((d) => d.slot === 1)!;

    const started = await runbook('start', 'disk-replacement', '--host', 'dom0-cli', '--resync-poll-interval', '1s', '--id', id);
    expect(started).toMatchObject({ code: 0, stderr: '' });
    expect(started.stdout).toContain(`started diskReplacement as ${id}`);
    expect(await (await client.workflow.getHandle(id).describe()).staticSummary()).toBe('Disk replacement on dom0-cli');

    await waitingFor(client.workflow.getHandle(id), diskReplacedUpdate.name);
    const progress = await runbook('progress', id);
    expect(progress.code).toBe(0);
    expect(progress.stdout).toContain('diskReplacement on dom0-cli: step 3/9 "swap the disk"');
    expect(progress.stdout).toContain(`waiting for an operator at the machine: replace the disk with serial ZA1E2B3C`);
    expect(progress.stdout).toContain(`keep the disk with serial ${survivor.serial}`);
    expect(progress.stdout).toContain('(answer: diskReplaced)');

    const listed = await runbook('list');
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n').find((line) => line.startsWith(`${id} `))).toContain('step 3/9 "swap the disk"');

    lab.swapDisk('dom0-cli', 0, { serial: 'ZCLI0001' });
    const answered = await runbook('disk-replaced', id, '--operator', 'camille', '--comment', 'slot 0');
    expect(answered).toMatchObject({ code: 0, stderr: '' });
    expect(answered.stdout).toContain('thanks camille: checking the new disk on dom0-cli by its serial number');

    const printed = await runbook('result', id);
    expect(printed.code).toBe(0);
    const result = JSON.parse(printed.stdout) as DiskReplacementResult;
    expect(result.swappedBy).toEqual({ operator: 'camille', comment: 'slot 0' });
    expect(result.newDisk.serial).toBe('ZCLI0001');
    expect(result.arrays).toEqual([{ array: 'md1', health: 'UU' }, { array: 'md0', health: 'UU' }]);
    expect(hostChanges(lab.audit('dom0-cli')).slice(-1)).toEqual(['grub-install /dev/sdc']);

    expect((await runbook('list')).stdout).not.toContain(id);
  });

  it.each([
    [['start', 'disk-replacement', '--host', 'dom0-typo; reboot'], /the runbook input is invalid:\nhost: /],
    [['start', 'disk-replacement', '--host', 'dom0-typo', '--swap', 'yes'], /the runbook input is invalid:\nswap: /],
    [['start', 'disk-replacement', '--host', 'dom0-typo', '--array', '$(reboot)'], /arrays\[0\]: must be an md array name/],
    [['start', 'disk-replacement', '--host', 'dom0-typo', '--resync-poll-interval', 'often'], /resyncPollInterval: must be a duration/],
    [['start', 'disk-replacement'], /the runbook input is invalid:\nhost: /],
    [['start', 'disk-swap', '--host', 'dom0-typo'], /unknown runbook "disk-swap" \(known: disk-replacement, /],
  ])('refuses %j with a clear message, a non-zero exit, and starts nothing', async (args, message) => {
    const id = `cli-bad-${Date.now()}`;
    const before = lab.audit('dom0-typo').length;
    const out = await runbook(...args, '--id', id);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/^runbook: /);
    expect(out.stderr).toMatch(message);
    expect(out.stdout).toBe('');
    expect(await exists(id)).toBe(false);
    expect(lab.audit('dom0-typo').length).toBe(before);
  });

  it('refuses an answer without an operator, and a command it does not know', async () => {
    const anonymous = await runbook('disk-replaced', 'cli-whatever', '--operator', '');
    expect(anonymous.code).toBe(2);
    expect(anonymous.stderr).toMatch(/the answer is invalid:\noperator: say who swapped the disk/);

    const unknown = await runbook('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"; try: runbook help');

    const noId = await runbook('progress');
    expect(noId.code).toBe(2);
    expect(noId.stderr).toContain('"runbook progress" needs a workflow id');
  });
});
