/**
 * vmBackup end to end: the page's `dd | bzip2` of a snapshot as a detached job on the lab's Xen dom0, surviving two
 * worker kills with one dd in the audit log, its progress moving in `progress`. Lab subnet 243.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { xenDom0WithGuests, type XenDom0State } from '../lab/hosts/xen-dom0.js';
import { Lab } from '../lab/lab.js';
import { approveUpdate, planQuery, progressQuery } from '../workflows/messages.js';
import type { VmBackupResult } from '../workflows/vmBackup.js';
import { changesByHost, codecClient, eventually, planByHost, recordHistory, stopAll, tempDir, waitingFor } from './helpers/runbooks.js';
import { sshClient } from './helpers/ssh.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';

const address = inject('temporalAddress');
const GiB = 1024 ** 3;
let lab: Lab;
let dir: string;
let client: Client;
let codecKeyFile: string;
let worker: WorkerProcess;

const state = (host: string) => lab.state<XenDom0State>(host);
const ssh = async (host: string, command: string) => {
  const run = await sshClient(lab.inventory, host, command, { dir }).done;
  if (run.code !== 0) throw new Error(`${command}: ${run.stderr}`);
};

async function killAndRestart(): Promise<void> {
  worker.kill('SIGKILL');
  await worker.stopped;
  worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile });
}

/** The bytes the job copied, as `progress` shows them (queries need a worker: asked once one runs). */
async function copied(handle: WorkflowHandle): Promise<number> {
  const detail = (await handle.query(progressQuery)).detail as { bytes?: number } | undefined;
  return detail?.bytes ?? 0;
}

beforeAll(async () => {
  dir = tempDir('backup');
  lab = await Lab.start({
    dir, subnet: 243,
    hosts: [
      // 10 GiB in about a minute: long enough for two worker kills.
      xenDom0WithGuests('dom0-bk', { jobBytesPerSecond: Math.floor((10 * GiB) / 60) }),
      xenDom0WithGuests('dom0-bk2', { jobBytesPerSecond: 4 * GiB }),
    ],
  });
  codecKeyFile = writeTestCodecKey(dir);
  worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile });
  client = await codecClient(address, codecKeyFile);
});

afterAll(() => stopAll(worker, client, lab));

function start(host: string, input: Record<string, unknown>): Promise<WorkflowHandle> {
  return client.workflow.start('vmBackup', { taskQueue: 'runbooks', workflowId: `backup-${host}-${Date.now()}`, args: [{ host, pollInterval: '2s', ...input }] });
}

describe('vmBackup', () => {
  it('copies a snapshot with one dd through two worker kills, re-attaching to the job; its progress moves', async () => {
    await ssh('dom0-bk', 'lvcreate -L 1G -s -n guest1_root_snap1 /dev/vg0/guest1_root');
    const file = '/srv/backup/guest1_root_save.raw.bz2';
    const handle = await start('dom0-bk', { snapshot: 'guest1_root_snap1', file, removeSnapshot: true });
    await waitingFor(handle, approveUpdate.name);
    const plan = (await handle.query(planQuery))!;
    expect(plan.steps.map((s) => s.command)).toEqual([
      expect.stringMatching(/^systemd-run --unit=runbook-backup-dom0-bk-\d+-dd-1 --remain-after-exit --quiet --property=StandardError=file:\/run\/runbook-backup-dom0-bk-\d+-dd-1\.log -- bash -o pipefail -c 'dd if=\/dev\/vg0\/guest1_root_snap1 bs=1M status=progress \| bzip2 -9 > \/srv\/backup\/guest1_root_save\.raw\.bz2'$/),
      'lvremove -y /dev/vg0/guest1_root_snap1',
    ]);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });

    const first = await eventually('the copy to start', async () => (await copied(handle)) || undefined);
    await killAndRestart();
    const second = await eventually('the copy to move on after a restart', async () => { const b = await copied(handle); return b > first ? b : undefined; });
    await killAndRestart();
    const result = (await handle.result()) as VmBackupResult;

    expect(second).toBeGreaterThan(first);
    expect(result.job).toMatchObject({ phase: 'succeeded', exitStatus: 0, bytes: 10 * GiB, totalBytes: 10 * GiB, percent: 100 });
    const starts = lab.audit('dom0-bk').filter((e) => e.command.startsWith('systemd-run '));
    expect(starts.map((e) => e.exitCode)).toEqual([0]); // ONE dd, re-attached twice
    expect(state('dom0-bk').files?.[file]).toEqual({ sizeBytes: Math.floor((10 * GiB) / 3), content: 'guest1_root@v1' });
    expect(result.fileBytes).toBe(Math.floor((10 * GiB) / 3));
    expect(result.snapshotRemoved).toBe('done');
    expect(state('dom0-bk').lvm!.lvs.some((l) => l.name === 'guest1_root_snap1')).toBe(false);
    expect(state('dom0-bk').jobs ?? []).toEqual([]); // the unit collected
    // What ran is what was approved: the unit's start and the lvremove (the job's look-ups and its clean-up aside).
    const changes = changesByHost({ 'dom0-bk': lab.audit('dom0-bk') })['dom0-bk']!.filter((c) => !/^(lvcreate|tail|systemctl|stat) /.test(c));
    expect(changes).toEqual(planByHost(plan)['dom0-bk']);
    await recordHistory(handle, 'vmBackup', codecKeyFile);
  });

  it('refuses a volume that is not a snapshot, and a file that exists, changing nothing', async () => {
    const notSnap = await (await start('dom0-bk2', { snapshot: 'guest1_root', file: '/srv/backup/a.bz2' })).result().catch((e: Error) => e);
    expect(String((notSnap as { cause?: Error }).cause?.message)).toContain('vg0/guest1_root on dom0-bk2 is not a snapshot');
    expect(lab.audit('dom0-bk2').some((e) => /^(systemd-run|lvremove) /.test(e.command))).toBe(false);
  });
});
