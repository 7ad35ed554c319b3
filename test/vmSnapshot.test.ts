/**
 * vmSnapshot and vmRestore end to end on the lab's Xen dom0: the snapshot taken with the guest stopped, its fill
 * watched by a workflow of its own (snapshotWatch: the admins mailed past the threshold and once more, continued as
 * new every few polls, ended when the snapshot is removed), a restore by merging the snapshot back and one from a backup file,
 * each behind the approval its plan shows. Lab subnet 244.
 */
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { setSnapshotFill, writeVolume } from '../lab/capabilities/lvm/index.js';
import { xenDom0WithGuests, type XenDom0State } from '../lab/hosts/xen-dom0.js';
import { Lab } from '../lab/lab.js';
import { startLabMailbox, type Mailbox } from '../lab/mailbox.js';
import { approveUpdate, planQuery, progressQuery } from '../workflows/messages.js';
import type { VmRestoreResult } from '../workflows/vmRestore.js';
import type { SnapshotWatchResult } from '../workflows/snapshotWatch.js';
import type { VmSnapshotResult } from '../workflows/vmSnapshot.js';
import { changesByHost, codecClient, eventually, planByHost, recordHistory, stopAll, tempDir, waitingFor } from './helpers/runbooks.js';
import { sshClient } from './helpers/ssh.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';

const address = inject('temporalAddress');
const GiB = 1024 ** 3;
const WATCH = 'snapshotWatch-dom0-sn-vg0-guest1_root_snap1';
let lab: Lab;
let dir: string;
let client: Client;
let codecKeyFile: string;
let worker: WorkerProcess;
let mailbox: Mailbox;

const state = (host: string) => lab.state<XenDom0State>(host);
const lv = (host: string, name: string) => state(host).lvm!.lvs.find((l) => l.name === name);
const running = (host: string, guest: string) => state(host).domains!.find((d) => d.name === guest)!.state === 'running';
/** How many runs a workflow id has had (each continue-as-new is one more). */
const runsOf = async (workflowId: string): Promise<number> => {
  let runs = 0;
  for await (const _ of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs++;
  return runs;
};
const ssh = async (host: string, command: string) => {
  const run = await sshClient(lab.inventory, host, command, { dir }).done;
  if (run.code !== 0) throw new Error(`${command}: ${run.stderr}`);
};

async function startApproved(type: string, host: string, input: Record<string, unknown>): Promise<{ handle: WorkflowHandle; mark: number }> {
  const handle = await client.workflow.start(type, { taskQueue: 'runbooks', workflowId: `${type}-${host}-${Date.now()}`, args: [{ host, pollInterval: '1s', guestShutdownTimeout: '20s', ...input }] });
  await waitingFor(handle, approveUpdate.name);
  const mark = lab.audit(host).length;
  await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
  return { handle, mark };
}

beforeAll(async () => {
  dir = tempDir('snapshot');
  lab = await Lab.start({ dir, subnet: 244, hosts: [xenDom0WithGuests('dom0-sn'), xenDom0WithGuests('dom0-rt', { jobBytesPerSecond: 2 * GiB })] });
  mailbox = await startLabMailbox({ dir: join(dir, 'mail'), inventoryPath: lab.inventoryPath, log: () => undefined });
  codecKeyFile = writeTestCodecKey(dir);
  worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile });
  client = await codecClient(address, codecKeyFile);
});

afterAll(() => stopAll(worker, client, mailbox, lab));

describe('vmSnapshot', () => {
  it('snapshots a stopped guest with the page\'s size, starts it again and ends, leaving the fill watch running', async () => {
    const { handle, mark } = await startApproved('vmSnapshot', 'dom0-sn', { guest: 'guest1', volume: 'guest1_root', purpose: 'config-change', fillThreshold: 50, fillPollInterval: '1s' });
    const plan = (await handle.query(planQuery))!;
    expect(plan.steps.map((s) => s.command)).toEqual(['xl shutdown guest1', 'lvcreate -L 1G -s -n guest1_root_snap1 /dev/vg0/guest1_root', 'xl create /etc/xen/guest1.cfg']);
    const result = (await handle.result()) as VmSnapshotResult;
    expect(result).toMatchObject({ snapshot: 'vg0/guest1_root_snap1', size: '1G', created: 'done', watch: { workflowId: WATCH, started: 'started' } });
    expect(running('dom0-sn', 'guest1')).toBe(true);
    expect(changesByHost({ 'dom0-sn': lab.audit('dom0-sn').slice(mark) })).toEqual(planByHost(plan));
    await recordHistory(handle, 'vmSnapshot', codecKeyFile);
  });

  it('the watch mails the admins past the threshold and once more halfway to full, not at each poll, and ends when the snapshot is removed', async () => {
    const watch = client.workflow.getHandle(WATCH);
    setSnapshotFill(lab, 'dom0-sn', 'vg0/guest1_root_snap1', GiB / 16); // the guest writes a lot: 6.25% a second
    const ofWatch = (m: { subject: string }) => m.subject.includes('dom0-sn: snapshot vg0/guest1_root_snap1 is ');
    const first = await mailbox.waitFor(ofWatch, 30_000);
    expect(first.text).toContain('At 100% it becomes invalid');
    await mailbox.waitFor((m) => ofWatch(m) && m.subject !== first.subject, 30_000);
    // Full now (invalid): polls go on, mails do not.
    const full = await eventually('the snapshot full', async () => {
      const { detail } = await watch.query(progressQuery);
      return detail?.percent === 100 ? (detail.polls as number) : undefined;
    }, 30_000);
    await eventually('two more polls', async () => (((await watch.query(progressQuery)).detail?.polls as number) >= full + 2 ? true : undefined), 30_000);
    await ssh('dom0-sn', 'lvremove -y /dev/vg0/guest1_root_snap1');
    const result = (await watch.result()) as SnapshotWatchResult;
    expect(result).toMatchObject({ snapshot: 'vg0/guest1_root_snap1', ended: 'snapshot removed', highestPercent: 100 });
    expect(result.mailed.map((m) => m.level)).toEqual([50, 75]);
    expect(mailbox.messages().filter(ofWatch)).toHaveLength(2);
    await recordHistory(watch, 'snapshotWatch', codecKeyFile);
  });

  it('the watch continues as new every few polls, carrying what it saw', async () => {
    await ssh('dom0-sn', 'lvcreate -L 1G -s -n guest2_root_snap1 /dev/vg0/guest2_root');
    const workflowId = `snapshotWatch-dom0-sn-can-${Date.now()}`;
    await client.workflow.start('snapshotWatch', {
      taskQueue: 'runbooks', workflowId,
      args: [{ host: 'dom0-sn', guest: 'guest2', vg: 'vg0', volume: 'guest2_root', snapshot: 'guest2_root_snap1', fillThreshold: 80, fillPollInterval: '1s', until: new Date(Date.now() + 3600_000).toISOString(), pollsPerRun: 2 }],
    });
    await eventually('a third run', async () => ((await runsOf(workflowId)) >= 3 ? true : undefined), 60_000);
    await ssh('dom0-sn', 'lvremove -y /dev/vg0/guest2_root_snap1');
    const result = (await client.workflow.getHandle(workflowId).result()) as SnapshotWatchResult;
    expect(result).toMatchObject({ ended: 'snapshot removed', mailed: [] });
    expect(result.polls).toBeGreaterThanOrEqual(5);
  });
});

describe('vmRestore', () => {
  it('merges the snapshot back into the volume (a detached job) with the guest stopped, after approval', async () => {
    await ssh('dom0-rt', 'lvcreate -L 1G -s -n guest1_root_snap1 /dev/vg0/guest1_root');
    writeVolume(lab, 'dom0-rt', 'vg0/guest1_root', 'guest1_root@broken-upgrade');
    const { handle, mark } = await startApproved('vmRestore', 'dom0-rt', { guest: 'guest1', volume: 'guest1_root', from: 'snapshot', snapshot: 'guest1_root_snap1' });
    const result = (await handle.result()) as VmRestoreResult;
    expect(result.restored).toMatchObject({ phase: 'succeeded', exitStatus: 0, lastLine: 'vg0/guest1_root_snap1: Merged: 100.00%' });
    expect(lv('dom0-rt', 'guest1_root')!.content).toBe('guest1_root@v1');
    expect(lv('dom0-rt', 'guest1_root_snap1')).toBeUndefined();
    expect(running('dom0-rt', 'guest1')).toBe(true);
    const plan = (await handle.query(planQuery))!;
    // The merge copies back all that changed since the snapshot (long for a large one): a detached job.
    expect(plan.steps.map((s) => s.command)).toEqual(['xl shutdown guest1', expect.stringMatching(/^systemd-run --unit=runbook-vmRestore-dom0-rt-\d+-merge-1 .* -- bash -o pipefail -c 'lvconvert --merge \/dev\/vg0\/guest1_root_snap1'$/), 'xl create /etc/xen/guest1.cfg']);
    expect(changesByHost({ 'dom0-rt': lab.audit('dom0-rt').slice(mark) })).toEqual(planByHost(plan));
    await recordHistory(handle, 'vmRestore-snapshot', codecKeyFile);
  });

  it('restores from a backup file as a detached job with the guest stopped, after approval', async () => {
    lab.update<XenDom0State, void>('dom0-rt', (s) => { s.files = { ...s.files, '/srv/backup/guest2.raw.bz2': { sizeBytes: 1000, content: 'guest2_root@saved' } }; });
    const { handle, mark } = await startApproved('vmRestore', 'dom0-rt', { guest: 'guest2', volume: 'guest2_root', from: 'file', file: '/srv/backup/guest2.raw.bz2' });
    const result = (await handle.result()) as VmRestoreResult;
    expect(result.restored).toMatchObject({ phase: 'succeeded', bytes: 10 * GiB });
    expect(lv('dom0-rt', 'guest2_root')!.content).toBe('guest2_root@saved');
    expect(running('dom0-rt', 'guest2')).toBe(true);
    const starts = lab.audit('dom0-rt').slice(mark).filter((e) => e.command.startsWith('systemd-run '));
    expect(starts.map((e) => e.command)).toEqual([expect.stringContaining("-- bash -o pipefail -c 'bunzip2 -c /srv/backup/guest2.raw.bz2 | dd of=/dev/vg0/guest2_root bs=1M status=progress'")]);
  });
});
