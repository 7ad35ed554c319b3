/**
 * nodeSeparation end to end: real Temporal dev server, real worker process, the lab's Proxmox nodes (corosync,
 * pmxcfs, pvecm) behind real OpenSSH, real SMTP. What is asserted is what an admin would check: `pvecm nodes` and
 * `pvecm status` on the remaining nodes, the corosync files (backed up, then gone), where the guests went, and the
 * audit log: each change made once. Lab subnet 248.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parsePvecmNodes, parsePvecmStatus } from '../activities/parsers/proxmox.js';
import { parseInventory } from '../common/inventory.js';
import { GiB, MiB, proxmoxCluster, proxmoxNode, STORAGE_LUKS_SHARED, STORAGE_NOLUKS_SHARED, type ProxmoxNodeState, type PveGuest } from '../lab/hosts/proxmox-node.js';
import { Lab, type AuditEntry } from '../lab/lab.js';
import { startLabMailbox, type Mailbox } from '../lab/mailbox.js';
import { approveUpdate, planQuery } from '../workflows/messages.js';
import type { NodeSeparationResult } from '../workflows/nodeSeparation.js';
import { codecClient, eventually, recordHistory, stopAll, tempDir, waitingFor } from './helpers/runbooks.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';

const address = inject('temporalAddress');
let lab: Lab;
let client: Client;
let codecKeyFile: string;
let inventoryPath: string;
let worker: WorkerProcess;
let mailbox: Mailbox;

/** Guests on the shared LUNs only: all of them can leave the node. */
function vm(vmid: number, name: string, type: PveGuest['type'] = 'qemu', storage = STORAGE_NOLUKS_SHARED): PveGuest {
  return {
    vmid, name, type, status: 'running', memBytes: 1024 * MiB, cores: 1, bridge: 'vmbr3', onboot: true,
    disks: [{ key: type === 'lxc' ? 'rootfs' : 'scsi0', storage, volume: `vm-${vmid}-disk-0`, sizeBytes: 10 * GiB }],
  };
}

/** What `pvecm status|nodes` prints on `host` now (the simulator asked directly: not in the audit). */
function pvecm(host: string, what: 'status' | 'nodes'): { stdout: string } {
  const view = { host: (n: string) => lab.state(n), hosts: () => lab.hostNames().map((n) => lab.state(n)) };
  const r = proxmoxNode.exec(lab.state<ProxmoxNodeState>(host), ['pvecm', what], { now: Date.now(), stage: 'openssh', lab: view });
  return { stdout: 'stdout' in r ? r.stdout.toString() : '' };
}
/** The commands that changed `host` and succeeded, reads set aside. */
const READS = /^(pvecm (status|nodes)|pvesh |pvesm |(qm|pct) config |df |cat |ls |test |pidof |systemctl is-active |hostname$|ceph osd (tree|pool ls|ok-to-stop|safe-to-destroy) |ceph mon (dump|ok-to-rm) |ceph mgr dump )/;
const changes = (audit: AuditEntry[]) => audit.filter((e) => e.exitCode === 0 && !READS.test(e.command)).map((e) => e.command);
const SEPARATION = [
  'systemctl stop pve-cluster', 'systemctl stop corosync', 'pmxcfs -l', /^mkdir -p \/root\/corosync-backup-\d{8}T\d{6}Z$/,
  /^cp -a \/etc\/pve\/corosync\.conf \/etc\/corosync \/var\/lib\/corosync \/root\/corosync-backup-\S+$/, 'rm -rf /etc/pve/corosync.conf',
  /^rm -rf \/etc\/corosync\/authkey \/etc\/corosync\/corosync\.conf/, /^kill \d+$/, 'systemctl start pve-cluster', /^rm -rf \/var\/lib\/corosync\/ringid_\d$/,
];

function start(host: string, extra: Record<string, unknown> = {}): Promise<WorkflowHandle> {
  return client.workflow.start('nodeSeparation', {
    taskQueue: 'runbooks', workflowId: `separation-${host}-${Date.now()}`,
    args: [{ host, reason: 'moving the node to the new architecture', pollInterval: '1s', upTimeout: '1 minute', requestedBy: 'carol', ...extra }],
  });
}

async function approveBy(handle: WorkflowHandle, ...names: string[]): Promise<void> {
  await waitingFor(handle, approveUpdate.name);
  for (const by of names) await handle.executeUpdate(approveUpdate, { args: [{ by, comment: 'plan read' }] });
}

beforeAll(async () => {
  const dir = tempDir('separation');
  const three = proxmoxCluster({ cluster: 'trio', names: ['trio1', 'trio2', 'trio3'], ceph: { osds: { trio1: [0], trio2: [1, 2], trio3: [3] }, mons: ['trio1', 'trio2', 'trio3'], mgrs: ['trio1', 'trio2'], drainMs: 8000 }, guests: { trio1: [vm(2101, 'ref-a'), vm(2102, 'ref-b'), vm(1201, 'dns', 'lxc', STORAGE_LUKS_SHARED)], trio2: [vm(2103, 'ref-c')], trio3: [] } });
  const withQdevice = proxmoxCluster({ cluster: 'duoq', names: ['duoq1', 'duoq2'], qdevice: '172.26.145.70', ceph: { osds: { duoq1: [1, 2, 3], duoq2: [0] }, drainMs: 12_000 }, guests: { duoq1: [], duoq2: [vm(2201, 'ref-q')] } });
  const bare = proxmoxCluster({ cluster: 'duo', names: ['duo1', 'duo2'], guests: { duo1: [], duo2: [] } });
  const solo = proxmoxCluster({ cluster: 'solo', names: ['solo1'], guests: { solo1: [] } });
  // The page's Ceph: two nodes and a QDevice, three OSDs, two of them on one node: that node cannot leave.
  const cephq = proxmoxCluster({ cluster: 'cephq', names: ['cephq1', 'cephq2'], qdevice: '172.26.145.70', ceph: { osds: { cephq1: [2], cephq2: [0, 1] }, mgrs: ['cephq2'] }, guests: { cephq1: [], cephq2: [] } });
  const presets = [three, withQdevice, bare, solo, cephq];
  lab = await Lab.start({ dir, subnet: 248, hosts: presets.flatMap((p) => p.hosts), clusters: presets.flatMap((p) => p.clusters) });
  // Two approvals from two people (board or admin), never the one who started the run; unsigned in the lab.
  const inventory = parseInventory({
    ...lab.inventory,
    people: [
      { name: 'alice', email: 'alice@lab.invalid', roles: ['board'] },
      { name: 'bob', email: 'bob@lab.invalid', roles: ['admin'] },
      { name: 'carol', email: 'carol@lab.invalid', roles: ['admin'] },
    ],
    approvals: { runbooks: { nodeSeparation: { roles: ['board', 'admin'], count: 2 } } },
  }, 'separation inventory');
  inventoryPath = join(dir, 'inventory-separation.json');
  writeFileSync(inventoryPath, JSON.stringify(inventory, null, 2));
  mailbox = await startLabMailbox({ dir: join(dir, 'mail'), inventoryPath, log: () => undefined });
  codecKeyFile = writeTestCodecKey(dir);
  worker = await startWorkerProcess({ address, inventoryPath, codecKeyFile, logFile: join(dir, 'worker.log') });
  client = await codecClient(address, codecKeyFile);
});

afterAll(() => stopAll(worker, client, mailbox, lab));

describe('nodeSeparation', () => {
  it('moves the guests, empties its Ceph OSD, runs the page\'s sequence with a backup first, deletes the node from a remaining one: two nodes left, quorate', async () => {
    const handle = await start('trio1');
    await waitingFor(handle, approveUpdate.name);
    const plan = (await handle.query(planQuery))!;
    expect(plan.steps.filter((s) => s.host === 'trio1').map((s) => s.command)).toEqual(expect.arrayContaining(['qm migrate 2101 trio2 --online', 'pct migrate 1201 trio3 --restart', 'pmxcfs -l', 'kill "$(pidof pmxcfs)"']));
    expect(plan.steps.find((s) => s.command.startsWith('pvecm delnode'))).toMatchObject({ host: 'trio2', command: 'pvecm delnode trio1' });
    expect(changes(lab.audit('trio1'))).toEqual([]);
    // The requester may not approve; one person counts once.
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: 'carol' }] })).rejects.toThrow(WorkflowUpdateFailedError);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] })).rejects.toThrow(WorkflowUpdateFailedError);
    expect(changes(lab.audit('trio1'))).toEqual([]);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    const result = (await handle.result()) as NodeSeparationResult;
    await recordHistory(handle, 'nodeSeparation', codecKeyFile);

    expect(result.approvals.map((a) => `${a.by}:${a.how}`)).toEqual(['alice:unsigned', 'bob:unsigned']);
    expect(result.votes).toMatchObject({ before: { expected: 3, total: 3 }, after: { expected: 2, total: 2, quorum: 2 } });
    expect(result.votesAtEnd).toEqual({ expected: 2, total: 2, quorate: true, nodes: ['trio2', 'trio3'] });
    for (const host of ['trio2', 'trio3']) {
      expect(parsePvecmNodes(pvecm(host, 'nodes').stdout).map((m) => m.name)).toEqual(['trio2', 'trio3']);
      expect(parsePvecmStatus(pvecm(host, 'status').stdout)).toMatchObject({ quorate: true, expectedVotes: 2, totalVotes: 2 });
    }
    // The guests left first; the node stands alone, its configuration copied and then removed.
    expect(lab.state<ProxmoxNodeState>('trio1').guests).toEqual([]);
    expect(['trio2', 'trio3'].flatMap((h) => lab.state<ProxmoxNodeState>(h).guests.map((g) => `${g.vmid}:${g.status}`)).sort()).toEqual(['1201:running', '2101:running', '2102:running', '2103:running']);
    const c = lab.state<ProxmoxNodeState>('trio1').corosync!;
    expect(c.pveConf).toBeNull();
    expect(Object.keys(c.files).filter((f) => /^\/(etc|var\/lib)\/corosync\/./.test(f))).toEqual([]);
    expect(c.files[`${result.backupDir}/corosync.conf`]).toContain('name: trio1');
    expect(Object.keys(c.files)).toEqual(expect.arrayContaining([`${result.backupDir}/corosync/authkey`, `${result.backupDir}/corosync/ringid_1`]));
    expect(c.units).toEqual({ 'pve-cluster': true, corosync: false });
    // The OSD: out, waited for (EBUSY while its PGs moved), stopped and destroyed only once safe to destroy.
    expect(result.cephDestroyed).toEqual(['osd.0', 'mon.trio1', 'mgr.trio1']);
    expect(changes(lab.audit('trio1')).filter((c) => /^pveceph m(on|gr)/.test(c))).toEqual(['pveceph mon destroy trio1', 'pveceph mgr destroy trio1']);
    expect(lab.state<ProxmoxNodeState>('trio1').ceph!.mon).toBeUndefined();
    const ceph = lab.audit('trio1').filter((e) => /^(ceph osd (out|safe-to-destroy)|systemctl stop ceph-osd|pveceph osd)/.test(e.command)).map((e) => `${e.command}:${e.exitCode}`);
    expect(ceph[0]).toBe('ceph osd out 0:0');
    expect(ceph[1]).toBe('ceph osd safe-to-destroy 0:16');
    expect(ceph.slice(-3)).toEqual(['ceph osd safe-to-destroy 0:0', 'systemctl stop ceph-osd@0:0', 'pveceph osd destroy 0:0']);
    expect(lab.state<ProxmoxNodeState>('trio1').ceph!.osds).toEqual([]);
    // Each change once, in the page's order; delnode on a remaining node.
    const made = changes(lab.audit('trio1')).filter((cmd) => !/^((qm|pct) migrate |ceph osd out |systemctl stop ceph-osd|pveceph )/.test(cmd));
    expect(lab.audit('trio1').findIndex((e) => e.command === 'pveceph mon destroy trio1')).toBeLessThan(lab.audit('trio1').findIndex((e) => e.command === 'systemctl stop pve-cluster'));
    expect(made).toHaveLength(SEPARATION.length);
    SEPARATION.forEach((want, i) => (typeof want === 'string' ? expect(made[i]).toBe(want) : expect(made[i]).toMatch(want)));
    expect(changes(lab.audit('trio2'))).toEqual(['pvecm delnode trio1']);
    expect(result.steps.every((s) => s.outcome === 'done')).toBe(true);
  }, 120_000);

  it.each([
    ['duo1', 'without duo1 the cluster would have 1 of 2 expected votes, below its quorum of 2: it would lose quorum'],
    ['solo1', 'solo1 is the last node of its cluster'],
    ['cephq2', 'the manager of cephq2 cannot go: mgr.cephq2 is the only manager: no other one stands by\n- removing osd.0, osd.1 of cephq2 leaves 1 OSD up and in for pool ceph-vm of size 3 (min_size 2): its data would become unavailable'],
  ])('refuses %s with the numbers, and changes nothing', async (host, why) => {
    const handle = await start(host);
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(String(error.cause?.message)).toContain(why);
    for (const h of ['duo1', 'duo2', 'solo1', 'cephq1', 'cephq2']) expect(changes(lab.audit(h))).toEqual([]);
  });

  it('counts the QDevice\'s vote, and a worker killed during the OSD drain and between two separation steps still makes each change once', async () => {
    // The backup folder's mkdir is held on its way: the kill lands after `pmxcfs -l`, before the copy and the removals.
    lab.faults.slow({ host: 'duoq2', pattern: 'mkdir -p', delayMs: 3000, times: 1 });
    const handle = await start('duoq2');
    await approveBy(handle, 'alice', 'bob');
    // First while osd.0's data moves: the durable wait goes on under the next worker. Its first look at the drain is
    // the sign: `ceph osd out` alone in the audit may still be on its way back to the server (killed then, its retry
    // rightly finds it already done, and this test would not be the one it means to be).
    await eventually('the drain watched', () => lab.audit('duoq2').some((e) => e.command === 'ceph osd safe-to-destroy 0') || undefined, 120_000);
    worker.kill('SIGKILL');
    await worker.stopped;
    worker = await startWorkerProcess({ address, inventoryPath, codecKeyFile });
    await eventually('the mkdir under way on duoq2', () => lab.faults.underWay().find((c) => c.host === 'duoq2' && c.command.startsWith('mkdir -p')), 120_000);
    worker.kill('SIGKILL');
    await worker.stopped;
    expect(changes(lab.audit('duoq2')).filter((c) => c.startsWith('rm ') || c.startsWith('cp '))).toEqual([]);
    worker = await startWorkerProcess({ address, inventoryPath, codecKeyFile });
    const result = (await handle.result()) as NodeSeparationResult;
    // The retried mkdir found the folder made; every other step ran once.
    expect(result.steps.filter((s) => s.outcome !== 'done').map((s) => `${s.command.split(' ').slice(0, 2).join(' ')}: ${s.outcome}`)).toEqual(['mkdir -p: already done']);
    expect(result.votes).toMatchObject({ before: { expected: 3, total: 3 }, during: { expected: 3, total: 2, quorate: true }, after: { expected: 2, total: 2 } });
    expect(parsePvecmStatus(pvecm('duoq1', 'status').stdout)).toMatchObject({ quorate: true, expectedVotes: 2, totalVotes: 2, qdevice: { votes: 1 } });
    expect(parsePvecmNodes(pvecm('duoq1', 'nodes').stdout).filter((m) => !m.qdevice).map((m) => m.name)).toEqual(['duoq1']);
    expect(lab.state<ProxmoxNodeState>('duoq1').guests.map((g) => g.vmid)).toEqual([2201]);
    expect(changes(lab.audit('duoq2')).filter((cmd) => /^(ceph osd out|systemctl stop ceph-osd|pveceph)/.test(cmd))).toEqual(['ceph osd out 0', 'systemctl stop ceph-osd@0', 'pveceph osd destroy 0']);
    const looks = lab.audit('duoq2').filter((e) => e.command === 'ceph osd safe-to-destroy 0').map((e) => e.exitCode);
    expect(looks.at(-1)).toBe(0);
    expect(looks.slice(0, -1).every((code) => code === 16)).toBe(true);
    const made = changes(lab.audit('duoq2')).filter((cmd) => !/^((qm|pct) migrate |ceph osd out |systemctl stop ceph-osd|pveceph )/.test(cmd));
    expect(made).toHaveLength(SEPARATION.length);
    SEPARATION.forEach((want, i) => (typeof want === 'string' ? expect(made[i]).toBe(want) : expect(made[i]).toMatch(want)));
    expect(changes(lab.audit('duoq1'))).toEqual(['pvecm delnode duoq2']);
  }, 150_000);
});
