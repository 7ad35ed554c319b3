/**
 * clusterTeardown end to end: real Temporal dev server, real worker process, the lab's Proxmox nodes (corosync,
 * pmxcfs, pvecm, Ceph, the QDevice) behind real OpenSSH, real SMTP. The page's cluster (two nodes, a QDevice,
 * three OSDs, a pool) taken apart: what is asserted is what an admin would check, `pvecm status` on each node,
 * the corosync files (backed up, then gone), the QDevice, and the audit log (each change once, the plan's). Lab subnet 249.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseInventory } from '../common/inventory.js';
import { GiB, MiB, proxmoxCluster, proxmoxNode, STORAGE_NOLUKS_SHARED, type ProxmoxNodeState, type PveGuest } from '../lab/hosts/proxmox-node.js';
import { Lab, type AuditEntry } from '../lab/lab.js';
import { startLabMailbox, type Mailbox } from '../lab/mailbox.js';
import type { ClusterTeardownResult } from '../workflows/clusterTeardown.js';
import { approveUpdate, planQuery, progressQuery } from '../workflows/messages.js';
import { codecClient, eventually, recordHistory, tempDir, waitingFor } from './helpers/runbooks.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';

const address = inject('temporalAddress');
let lab: Lab;
let client: Client;
let codecKeyFile: string;
let worker: WorkerProcess;
let mailbox: Mailbox;
let inventoryPath: string;

function vm(vmid: number, name: string, storage = STORAGE_NOLUKS_SHARED): PveGuest {
  return {
    vmid, name, type: 'qemu', status: 'running', memBytes: 1024 * MiB, cores: 1, bridge: 'vmbr3', onboot: true,
    disks: [{ key: 'scsi0', storage, volume: `vm-${vmid}-disk-0`, sizeBytes: 10 * GiB }],
  };
}

/** What `pvecm status` prints on `host` now (the simulator asked directly: not in the audit). */
function pvecmStatus(host: string): string {
  const view = { host: (n: string) => lab.state(n), hosts: () => lab.hostNames().map((n) => lab.state(n)) };
  const r = proxmoxNode.exec(lab.state<ProxmoxNodeState>(host), ['pvecm', 'status'], { now: Date.now(), stage: 'openssh', lab: view });
  return 'stdout' in r ? `${r.stdout.toString()}${r.stderr.toString()}` : '';
}
const READS = /^(pvecm (status|nodes)|pvesh |pvesm |(qm|pct) config |df |cat |ls |test |pidof |systemctl is-active |hostname$|ceph osd (tree|pool ls|ok-to-stop|safe-to-destroy) |ceph mon (dump|ok-to-rm) |ceph mgr dump )/;
const changes = (audit: AuditEntry[]) => audit.filter((e) => e.exitCode === 0 && !READS.test(e.command)).map((e) => e.command);
const HOSTS = ['tear1', 'tear2', 'held1', 'held2', 'kill1', 'kill2'];

function start(cluster: string): Promise<WorkflowHandle> {
  return client.workflow.start('clusterTeardown', {
    taskQueue: 'runbooks', workflowId: `teardown-${cluster}-${Date.now()}`,
    args: [{ cluster, reason: 'reinstalling the nodes on the new architecture', pollInterval: '1s', upTimeout: '1 minute', requestedBy: 'carol' }],
  });
}

beforeAll(async () => {
  const dir = tempDir('teardown');
  // The page's cluster: two nodes and a QDevice (votes 2 → 3), three OSDs (vdb on the first, sdb and sdc on the second), a pool.
  const page = proxmoxCluster({ cluster: 'tear', names: ['tear1', 'tear2'], qdevice: '172.26.145.70', ceph: { osds: { tear1: [0], tear2: [1, 2] }, mons: ['tear1', 'tear2'], mgrs: ['tear1', 'tear2'], drainMs: 4000 }, guests: { tear1: [vm(2301, 'ref-t')], tear2: [] } });
  // The same, with a guest whose disk lives on the Ceph pool: refused.
  const held = proxmoxCluster({ cluster: 'held', names: ['held1', 'held2'], qdevice: '172.26.145.70', ceph: { osds: { held1: [0], held2: [1, 2] }, mons: ['held1'], mgrs: ['held1'] }, guests: { held1: [vm(2401, 'on-ceph', 'ceph-vm')], held2: [vm(2402, 'on-lvm')] } });
  // Two nodes and a QDevice, no Ceph: the worker is killed at the quorum hinge (`pvecm expected 1`).
  const killed = proxmoxCluster({ cluster: 'kill', names: ['kill1', 'kill2'], qdevice: '172.26.145.70', guests: { kill1: [], kill2: [] } });
  const presets = [page, held, killed];
  lab = await Lab.start({ dir, subnet: 249, hosts: presets.flatMap((p) => p.hosts), clusters: presets.flatMap((p) => p.clusters) });
  const inventory = parseInventory({
    ...lab.inventory,
    people: [
      { name: 'alice', email: 'alice@lab.invalid', roles: ['board'] },
      { name: 'bob', email: 'bob@lab.invalid', roles: ['admin'] },
      { name: 'carol', email: 'carol@lab.invalid', roles: ['admin'] },
    ],
    approvals: { runbooks: { clusterTeardown: { roles: ['board', 'admin'], count: 2 } } },
  }, 'teardown inventory');
  inventoryPath = join(dir, 'inventory-teardown.json');
  writeFileSync(inventoryPath, JSON.stringify(inventory, null, 2));
  mailbox = await startLabMailbox({ dir: join(dir, 'mail'), inventoryPath, log: () => undefined });
  codecKeyFile = writeTestCodecKey(dir);
  worker = await startWorkerProcess({ address, inventoryPath, codecKeyFile, logFile: join(dir, 'worker.log') });
  client = await codecClient(address, codecKeyFile);
});

afterAll(async () => {
  worker?.kill('SIGTERM');
  await worker?.stopped;
  await client?.connection.close();
  await mailbox?.stop();
  await lab?.stop();
});

describe('clusterTeardown', () => {
  it('takes the page\'s two nodes + QDevice + Ceph apart: the pool, every OSD, the QDevice, then both nodes standalone; each change once, the plan\'s', async () => {
    const handle = await start('tear');
    await waitingFor(handle, approveUpdate.name);
    const plan = (await handle.query(planQuery))!;
    for (const h of ['tear1', 'tear2']) expect(changes(lab.audit(h))).toEqual([]);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    const result = (await handle.result()) as ClusterTeardownResult;
    await recordHistory(handle, 'clusterTeardown', codecKeyFile);

    expect(result.approvals.map((a) => `${a.by}:${a.how}`)).toEqual(['alice:unsigned', 'bob:unsigned']);
    expect(result).toMatchObject({ nodes: ['tear1', 'tear2'], poolsDestroyed: ['ceph-vm'], qdeviceRemoved: true, cephKept: ['mon.tear2', 'mgr.tear2'] });
    expect(result.cephDestroyed).toEqual(['osd.0', 'osd.1', 'osd.2', 'mon.tear1', 'mgr.tear1']);
    // Both nodes part of no cluster, as `pvecm status` says; their configuration copied, then removed; the QDevice gone.
    for (const h of ['tear1', 'tear2']) {
      expect(pvecmStatus(h)).toContain('is this node part of a cluster?');
      expect(result.standalone[h]).toContain('is this node part of a cluster?');
      const c = lab.state<ProxmoxNodeState>(h).corosync!;
      expect(c.pveConf).toBeNull();
      expect(c.qdevice).toBeUndefined();
      expect(Object.keys(c.files).filter((f) => /^\/(etc|var\/lib)\/corosync\/./.test(f))).toEqual([]);
      expect(c.files[`${result.backupDir}/corosync.conf`]).toContain(`name: ${h}`);
      expect(c.units).toEqual({ 'pve-cluster': true, corosync: false });
      expect(lab.state<ProxmoxNodeState>(h).ceph).toMatchObject({ osds: [], pool: null });
    }
    expect(lab.state<ProxmoxNodeState>('tear1').guests.map((g) => `${g.vmid}:${g.status}`)).toEqual(['2301:running']);
    // Each change once, in the plan's order on each host; the local pmxcfs killed by the pid found.
    for (const h of ['tear1', 'tear2']) {
      const planned = plan.steps.filter((s) => s.host === h).map((s) => s.command);
      const made = changes(lab.audit(h)).map((c) => c.replace(/^kill \d+$/, 'kill "$(pidof pmxcfs)"'));
      expect(made).toEqual(planned);
    }
    // The order across hosts: the pool first, the QDevice before any node leaves, `pvecm expected 1` before delnode.
    expect(changes(lab.audit('tear1'))[0]).toBe('pveceph pool destroy ceph-vm');
    const t2 = changes(lab.audit('tear2'));
    expect(t2.indexOf('pvecm qdevice remove')).toBeLessThan(t2.indexOf('pvecm expected 1'));
    expect(t2.indexOf('pvecm expected 1')).toBe(t2.indexOf('pvecm delnode tear1') - 1);
    expect(t2.indexOf('pvecm delnode tear1')).toBeLessThan(t2.indexOf('systemctl stop pve-cluster'));
    expect(result.steps.every((s) => s.outcome === 'done')).toBe(true);
    expect(result.steps).toHaveLength(plan.steps.length);
    const progress = await handle.query(progressQuery);
    expect(progress.stepsDone + progress.stepsSkipped).toBe(progress.stepsTotal);
  }, 120_000);

  it('refuses with the list when a guest disk lives on a Ceph pool, and changes nothing', async () => {
    const handle = await start('held');
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(String(error.cause?.message)).toContain('- VM 2401 (on-ceph) on held1: a disk on pool ceph-vm\nNothing was changed.');
    for (const h of HOSTS.filter((x) => x.startsWith('held'))) expect(changes(lab.audit(h))).toEqual([]);
  });

  it('a worker killed while the node that stays regains quorum (`pvecm expected 1`) still makes each change once', async () => {
    lab.faults.slow({ host: 'kill2', pattern: 'pvecm expected', delayMs: 3000, times: 1 });
    const handle = await start('kill');
    await waitingFor(handle, approveUpdate.name);
    const plan = (await handle.query(planQuery))!;
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    await eventually('pvecm expected under way on kill2', () => lab.faults.underWay().find((c) => c.host === 'kill2' && c.command.startsWith('pvecm expected')), 60_000);
    worker.kill('SIGKILL');
    await worker.stopped;
    worker = await startWorkerProcess({ address, inventoryPath, codecKeyFile });
    const result = (await handle.result()) as ClusterTeardownResult;
    for (const h of ['kill1', 'kill2']) {
      expect(pvecmStatus(h)).toContain('is this node part of a cluster?');
      const made = changes(lab.audit(h)).map((c) => c.replace(/^kill \d+$/, 'kill "$(pidof pmxcfs)"'));
      expect(made).toEqual(plan.steps.filter((s) => s.host === h).map((s) => s.command));
    }
    expect(result.steps.map((s) => s.command)).toEqual(plan.steps.map((s) => s.command));
  }, 120_000);
});
