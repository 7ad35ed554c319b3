/**
 * vmDiskResize end to end on the lab's Xen dom0 (LVM, read-only root, the page's guests): real Temporal dev server,
 * real worker process, real OpenSSH, real SMTP. What is asserted is what an admin would check: the volume's size,
 * the root's mount, the guest running, the audit log. Lab subnet 242.
 */
import { join } from 'node:path';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { setResizeFailure, type LogicalVolume } from '../lab/capabilities/lvm/index.js';
import { xenDom0WithGuests, type XenDom0State } from '../lab/hosts/xen-dom0.js';
import { Lab } from '../lab/lab.js';
import { startLabMailbox, type Mailbox } from '../lab/mailbox.js';
import { approveUpdate, decideUpdate, planQuery } from '../workflows/messages.js';
import type { VmDiskResizeResult } from '../workflows/vmDiskResize.js';
import { changesByHost, codecClient, eventually, planByHost, recordHistory, stopAll, tempDir, waitingFor } from './helpers/runbooks.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';

const address = inject('temporalAddress');
const GiB = 1024 ** 3;
let lab: Lab;
let client: Client;
let codecKeyFile: string;
let worker: WorkerProcess;
let mailbox: Mailbox;

const volume = (host: string, name: string): LogicalVolume => lab.state<XenDom0State>(host).lvm!.lvs.find((l) => l.name === name)!;
const rootReadOnly = (host: string) => lab.state<XenDom0State>(host).rootReadOnly;
const domain = (host: string, name: string) => lab.state<XenDom0State>(host).domains!.find((d) => d.name === name)!;
const commands = (host: string) => lab.audit(host).map((e) => `${e.command}:${e.exitCode}`);
/** The detached jobs started to run `lvresize` (systemd-run … bash -o pipefail -c 'lvresize …'). */
const resizeJobs = (host: string) => lab.audit(host).filter((e) => e.command.startsWith('systemd-run ') && e.command.includes('lvresize')).map((e) => e.command);

function start(host: string, input: Record<string, unknown>): Promise<WorkflowHandle> {
  return client.workflow.start('vmDiskResize', {
    taskQueue: 'runbooks', workflowId: `resize-${host}-${Date.now()}`, args: [{ host, pollInterval: '1s', guestShutdownTimeout: '2 minutes', ...input }],
  });
}

async function approve(handle: WorkflowHandle): Promise<void> {
  await waitingFor(handle, approveUpdate.name);
  await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
}

beforeAll(async () => {
  const dir = tempDir('resize');
  lab = await Lab.start({
    dir, subnet: 242,
    hosts: [
      xenDom0WithGuests('dom0-rs'),
      xenDom0WithGuests('dom0-fail'),
      xenDom0WithGuests('dom0-kill', { lvm: { remountMs: 4000, resizeJobMs: 15_000 } }),
      xenDom0WithGuests('dom0-full'),
    ],
  });
  mailbox = await startLabMailbox({ dir: join(dir, 'mail'), inventoryPath: lab.inventoryPath, log: () => undefined });
  codecKeyFile = writeTestCodecKey(dir);
  worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile });
  client = await codecClient(address, codecKeyFile);
});

afterAll(() => stopAll(worker, client, mailbox, lab));

describe('vmDiskResize', () => {
  it('stops the guest, grows its volume with / read-write for the resize only, starts it again; the plan names its dependants', async () => {
    const handle = await start('dom0-rs', { guest: 'srvnfs', volume: 'srvnfs_root', add: '2G' });
    await waitingFor(handle, approveUpdate.name);
    const plan = (await handle.query(planQuery))!;
    expect(plan.summary).toContain('guest1, guest2, srvpub depend on it and lose it while it is stopped');
    expect(plan.steps.map((s) => s.command)).toEqual([
      'xl shutdown srvnfs', 'mount -o remount,rw /',
      expect.stringMatching(/^systemd-run --unit=runbook-resize-dom0-rs-\d+-lvresize-1 .* -- bash -o pipefail -c 'lvresize -r -L \+2G \/dev\/vg0\/srvnfs_root'$/),
      'mount -o remount,ro /', 'xl create /etc/xen/srvnfs.cfg',
    ]);
    expect(changesByHost({ 'dom0-rs': lab.audit('dom0-rs') })).toEqual({});
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
    const result = (await handle.result()) as VmDiskResizeResult;

    expect(result.sizeBytes).toMatchObject({ before: 10 * GiB, after: 12 * GiB });
    expect(volume('dom0-rs', 'srvnfs_root').extents * 4 * 1024 ** 2).toBe(12 * GiB);
    expect(result.root).toEqual({ atStart: 'ro', atEnd: 'ro', remounts: ['rw: done', 'ro: done'] });
    expect(rootReadOnly('dom0-rs')).toBe(true);
    expect(domain('dom0-rs', 'srvnfs').state).toBe('running');
    expect(result.dependants).toEqual(['guest1', 'guest2', 'srvpub']);
    // Only srvnfs was stopped; what ran is what the plan said, reads aside.
    expect(changesByHost({ 'dom0-rs': lab.audit('dom0-rs') })).toEqual(planByHost(plan));
    await recordHistory(handle, 'vmDiskResize', codecKeyFile);
  });

  it('puts / back read-only when lvresize fails, asks a person, and resizes on their retry', async () => {
    setResizeFailure(lab, 'dom0-fail', '  Filesystem check failed.\n');
    const handle = await start('dom0-fail', { guest: 'guest1', volume: 'guest1_root', add: '512M' });
    await approve(handle);
    await waitingFor(handle, decideUpdate.name);
    expect(rootReadOnly('dom0-fail')).toBe(true); // read-only while a person decides
    expect(resizeJobs('dom0-fail')).toEqual([expect.stringMatching(/-lvresize-1 .*'lvresize -r -L \+512M \/dev\/vg0\/guest1_root'$/)]);
    await mailbox.waitFor((m) => m.subject.includes('dom0-fail: lvresize -r -L +512M /dev/vg0/guest1_root failed'));
    setResizeFailure(lab, 'dom0-fail', null);
    await handle.executeUpdate(decideUpdate, { args: [{ by: 'bob', decision: 'retry', comment: 'fsck done by hand' }] });
    const result = (await handle.result()) as VmDiskResizeResult;
    expect(result.sizeBytes.after).toBe(10 * GiB + 512 * 1024 ** 2);
    expect(result.root.atEnd).toBe('ro');
    expect(rootReadOnly('dom0-fail')).toBe(true);
    expect(domain('dom0-fail', 'guest1').state).toBe('running');
    expect(result.decisions).toMatchObject([{ decision: 'retry', by: 'bob' }]);
    // Each attempt was rw, resize, ro.
    const remounts = commands('dom0-fail').filter((c) => c.startsWith('mount '));
    expect(remounts.every((c, i) => c === (i % 2 ? 'mount -o remount,ro /:0' : 'mount -o remount,rw /:0'))).toBe(true);
    expect(remounts.at(-1)).toBe('mount -o remount,ro /:0');
    // bob's retry ran a second job (a new unit), after the first one's failure.
    expect(resizeJobs('dom0-fail')).toEqual([expect.stringMatching(/-lvresize-1 /), expect.stringMatching(/-lvresize-2 /)]);
  });

  it('puts / back read-only when the worker is killed between the remount and the resize, and re-attaches to the resize when killed during it', async () => {
    const handle = await start('dom0-kill', { guest: 'guest2', volume: 'guest2_root', add: '1G' });
    await approve(handle);
    await eventually('the remount rw', () => lab.audit('dom0-kill').some((e) => e.command === 'mount -o remount,rw /') || undefined, 180_000);
    worker.kill('SIGKILL'); // while the remount's reply is on its way: the resize is not sent yet
    await worker.stopped;
    expect(rootReadOnly('dom0-kill')).toBe(false);
    expect(resizeJobs('dom0-kill')).toEqual([]);
    worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile });
    // Killed again while the resize job runs (15 s here): the next worker watches the same job, it starts no other.
    await eventually('the resize job', () => resizeJobs('dom0-kill').length > 0 || undefined, 180_000);
    worker.kill('SIGKILL');
    await worker.stopped;
    expect(rootReadOnly('dom0-kill')).toBe(false);
    worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile });
    const result = (await handle.result()) as VmDiskResizeResult;
    expect(rootReadOnly('dom0-kill')).toBe(true);
    expect(result.root).toMatchObject({ atEnd: 'ro', remounts: ['rw: already done', 'ro: done'] });
    expect(resizeJobs('dom0-kill')).toEqual([expect.stringMatching(/-lvresize-1 .*'lvresize -r -L \+1G \/dev\/vg0\/guest2_root'$/)]);
    expect(result.sizeBytes.after).toBe(11 * GiB);
    expect(domain('dom0-kill', 'guest2').state).toBe('running');
  }, 300_000); // the guest's stop, a worker's start and a heartbeat timeout

  it('refuses a size beyond the free space with the numbers, and changes nothing', async () => {
    const handle = await start('dom0-full', { guest: 'guest1', volume: 'guest1_root', add: '1T' });
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(String(error.cause?.message)).toBe(
      `not enough free space: adding 1T to vg0/guest1_root needs 1024.00 GiB (${1024 * GiB} bytes), but vg0 on dom0-full has 120.00 GiB (${120 * GiB} bytes) free; nothing was changed`,
    );
    expect(changesByHost({ 'dom0-full': lab.audit('dom0-full') })).toEqual({});
    expect(domain('dom0-full', 'guest1').state).toBe('running');
    expect(volume('dom0-full', 'guest1_root').extents).toBe(2560);
  });

  it('refuses a shrink before any SSH, naming the field', async () => {
    const before = lab.audit('dom0-full').length;
    const error = (await (await start('dom0-full', { guest: 'guest1', volume: 'guest1_root', add: '-2G' })).result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(String(error.cause?.message)).toContain('add: shrinking is refused');
    expect(lab.audit('dom0-full').length).toBe(before);
  });
});
