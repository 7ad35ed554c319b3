/**
 * proxmoxSnapshot end to end on the lab's Proxmox cluster: a VM on lvmthin_luks_local is snapshotted, rolled back and
 * its snapshot deleted, each behind an approval; a VM on a shared LUN is refused with the page's reason, before any
 * change. Lab subnet 245.
 */
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { proxmoxSnapshotActivities } from '../activities/proxmoxSnapshots.js';
import { SshPool } from '../activities/ssh/pool.js';
import { remoteShell } from '../activities/ssh/remote.js';
import { proxmox } from '../common/commands.js';
import type { WithSnapshots } from '../lab/capabilities/proxmox/snapshots.js';
import { proxmoxCluster, type ProxmoxNodeState } from '../lab/hosts/proxmox-node.js';
import { Lab } from '../lab/lab.js';
import { approveUpdate, planQuery } from '../workflows/messages.js';
import type { ProxmoxSnapshotResult } from '../workflows/proxmoxSnapshot.js';
import { changesByHost, codecClient, planByHost, recordHistory, stopAll, tempDir, waitingFor } from './helpers/runbooks.js';
import { sshClient } from './helpers/ssh.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';

const address = inject('temporalAddress');
const NAMES = ['snp1', 'snp2', 'snp3'];
let lab: Lab;
let client: Client;
let codecKeyFile: string;
let worker: WorkerProcess;
let dir: string;

const vm = (vmid: number) => lab.state<ProxmoxNodeState>('snp1').guests.find((g) => g.vmid === vmid) as ProxmoxNodeState['guests'][number] & WithSnapshots;

async function run(input: Record<string, unknown>, approve = true): Promise<{ handle: WorkflowHandle; mark: number }> {
  const handle = await client.workflow.start('proxmoxSnapshot', { taskQueue: 'runbooks', workflowId: `snap-${Date.now()}`, args: [{ host: 'snp1', ...input }] });
  const mark = lab.audit('snp1').length;
  if (approve) {
    await waitingFor(handle, approveUpdate.name);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
  }
  return { handle, mark };
}

const sshRun = async (command: string) => {
  const done = await sshClient(lab.inventory, 'snp1', command, { dir }).done;
  if (done.code !== 0) throw new Error(`${command}: ${done.stderr}`);
};

beforeAll(async () => {
  dir = tempDir('pvesnap');
  const cluster = proxmoxCluster({ names: NAMES, bootDelayMs: 500 });
  lab = await Lab.start({ dir, subnet: 245, hosts: cluster.hosts, clusters: cluster.clusters });
  codecKeyFile = writeTestCodecKey(dir);
  worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile });
  client = await codecClient(address, codecKeyFile);
});

afterAll(() => stopAll(worker, client, lab));

describe('proxmoxSnapshot', () => {
  it('snapshots a VM on lvmthin_luks_local, rolls it back and deletes the snapshot, each approved', async () => {
    const taken = await run({ vmid: 2010, action: 'snapshot', name: 'before-upgrade', description: 'avant la mise à jour' });
    const result = (await taken.handle.result()) as ProxmoxSnapshotResult;
    expect(result.outcome).toBe('done');
    expect(vm(2010).snapshots!.map((s) => s.name)).toEqual(['before-upgrade']);
    const plan = (await taken.handle.query(planQuery))!;
    expect(plan.steps.map((s) => s.command)).toEqual(["qm snapshot 2010 before-upgrade --description 'avant la mise à jour'"]);
    expect(changesByHost({ snp1: lab.audit('snp1').slice(taken.mark) })).toEqual(planByHost(plan));
    await recordHistory(taken.handle, 'proxmoxSnapshot', codecKeyFile);

    lab.update<ProxmoxNodeState, void>('snp1', (s) => { (s.guests.find((g) => g.vmid === 2010) as WithSnapshots).content = 'REF-VM-10@upgraded'; });
    const back = await run({ vmid: 2010, action: 'rollback', name: 'before-upgrade' });
    // The rollback stops the VM (no RAM in the snapshot): it ran before, so it is started again.
    expect(await back.handle.result()).toMatchObject({ outcome: 'done', runningBefore: true, restarted: 'done' });
    expect(vm(2010).content).toBe('REF-VM-10@v1');
    expect(vm(2010).status).toBe('running');
    const backPlan = (await back.handle.query(planQuery))!;
    expect(backPlan.steps.map((s) => s.command)).toEqual(['qm rollback 2010 before-upgrade', 'qm start 2010']);
    expect(changesByHost({ snp1: lab.audit('snp1').slice(back.mark) })).toEqual(planByHost(backPlan));
    await recordHistory(back.handle, 'proxmoxSnapshot-rollback', codecKeyFile);

    const gone = await run({ vmid: 2010, action: 'delete', name: 'before-upgrade' });
    expect(((await gone.handle.result()) as ProxmoxSnapshotResult).outcome).toBe('done');
    expect(vm(2010).snapshots).toEqual([]);
  });

  it('a rollback to a snapshot with the RAM state: the VM resumes by itself, the planned start finds it running', async () => {
    await sshRun('qm snapshot 2010 with-ram --vmstate 1');
    const { handle, mark } = await run({ vmid: 2010, action: 'rollback', name: 'with-ram' });
    expect(await handle.result()).toMatchObject({ outcome: 'done', runningBefore: true, restarted: 'already done' });
    expect(vm(2010).status).toBe('running');
    expect(changesByHost({ snp1: lab.audit('snp1').slice(mark) })).toEqual({ snp1: ['qm rollback 2010 with-ram'] });
  });

  it('a rollback of a stopped VM leaves it stopped: no start planned', async () => {
    await sshRun('qm shutdown 2010');
    const { handle } = await run({ vmid: 2010, action: 'rollback', name: 'with-ram' });
    const result = (await handle.result()) as ProxmoxSnapshotResult;
    expect(result).toMatchObject({ outcome: 'done', runningBefore: false });
    expect(result.restarted).toBeUndefined();
    expect((await handle.query(planQuery))!.steps.map((s) => s.command)).toEqual(['qm rollback 2010 with-ram']);
  });

  it('refuses a VM on a shared LUN with the page\'s reason, before any change', async () => {
    const { handle, mark } = await run({ vmid: 2001, action: 'snapshot', name: 'nope' }, false);
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(String(error.cause?.message)).toContain('VM 2001 (REF-VM-01) has disks on lvm_noluks_shared (lvm, shared), which take no snapshots');
    expect(String(error.cause?.message)).toContain('ne supportant pas les snapshots, mais du coup en HA');
    expect(changesByHost({ snp1: lab.audit('snp1').slice(mark) })).toEqual({});
  });

  it('a retried rollback finds the new generation id and runs nothing; on a VM without one, a retry asks a person', async () => {
    const pool = new SshPool({ privateKey: readFileSync(lab.inventory.ssh.privateKeyPath) });
    try {
      const { changeVmSnapshot, readVmGenId } = proxmoxSnapshotActivities(remoteShell(pool, lab.inventory));
      const attempt = (n: number) => new MockActivityEnvironment({ attempt: n });
      const snap = { vmid: 2010, name: 'retried', action: 'rollback' as const };
      await sshRun('qm snapshot 2010 retried');
      const rollback = proxmox.rollback(2010, 'retried');
      const rollbacks = () => lab.audit('snp1').filter((e) => e.command === rollback.text).length;
      const before: string | null = await attempt(1).run(readVmGenId, 'snp1', 2010);
      expect(before).toMatch(/^[0-9a-f-]{36}$/);
      expect(await attempt(1).run(changeVmSnapshot, 'snp1', { ...snap, genIdBefore: before }, rollback)).toBe('done');
      // The worker died before it reported: the retry sees the generation id the rollback gave, and stops there.
      expect(await attempt(2).run(changeVmSnapshot, 'snp1', { ...snap, genIdBefore: before }, rollback)).toBe('already done');
      expect(rollbacks()).toBe(1);
      // A VM without a generation id: the first attempt rolls back, a retry cannot tell and leaves it to a person.
      lab.update<ProxmoxNodeState, void>('snp1', (s) => { delete s.guests.find((g) => g.vmid === 2010)!.vmgenid; });
      expect(await attempt(1).run(readVmGenId, 'snp1', 2010)).toBeNull();
      expect(await attempt(1).run(changeVmSnapshot, 'snp1', { ...snap, genIdBefore: null }, rollback)).toBe('done');
      await expect(attempt(2).run(changeVmSnapshot, 'snp1', { ...snap, genIdBefore: null }, rollback)).rejects.toMatchObject({ type: 'OutcomeUnknown', nonRetryable: true });
      expect(rollbacks()).toBe(2);
    } finally {
      pool.close();
    }
  });
});
