/**
 * The disk-replacement runbook end to end: real Temporal dev server, real worker process, lab hosts behind
 * real OpenSSH. What is asserted is what an admin would check: the arrays, the audit log, the run's history.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto'; // CommonJS: no named exports under Node's ESM loader

const { temporal } = proto;
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DiskReplacementResult } from '../workflows/diskReplacement.js';
import { diskReplacedUpdate, planQuery } from '../workflows/messages.js';
import { Lab, presets } from '../lab/lab.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';
import { changesByHost, codecClient, eventually, hostChanges, planByHost, rawClient, recordHistory, stopAll, tempDir, waitingFor } from './helpers/runbooks.js';

/** The Update events of a run's history (a rejected Update must leave none). */
async function updateEvents(handle: { fetchHistory(): Promise<proto.temporal.api.history.v1.IHistory> }): Promise<string[]> {
  const { events } = await handle.fetchHistory();
  return events!.flatMap((e) => Object.keys(e).filter((k) => k.startsWith('workflowExecutionUpdate') && (e as Record<string, unknown>)[k]));
}

const address = inject('temporalAddress');
const TASK_QUEUE = 'runbooks';
let lab: Lab;
let client: Client;
let codecKeyFile: string;
let worker: WorkerProcess;
const fast = { resyncPollInterval: '1s' };

function arraysOf(host: string) {
  return lab.state(host).arrays.map((a) => ({
    array: a.name,
    members: a.members.map((m) => `${m.serial}:${m.partition}:${m.state}`).sort(),
  }));
}

/** The messages of every failure in a history, causes included. */
function failureMessages(history: proto.temporal.api.history.v1.IHistory): string[] {
  const messages: string[] = [];
  for (const event of history.events ?? []) {
    for (const attributes of Object.values(event)) {
      let failure = (attributes as { failure?: proto.temporal.api.failure.v1.IFailure | null } | null)?.failure;
      for (; failure; failure = failure.cause) if (failure.message) messages.push(failure.message);
    }
  }
  return messages;
}

/** The search attributes' values as stored (each payload's data, JSON in clear). */
function searchAttributeValues(history: proto.temporal.api.history.v1.IHistory): string[] {
  const values: string[] = [];
  for (const event of history.events ?? []) {
    for (const attributes of Object.values(event)) {
      const fields = (attributes as { searchAttributes?: proto.temporal.api.common.v1.ISearchAttributes | null } | null)?.searchAttributes?.indexedFields;
      for (const payload of Object.values(fields ?? {})) if (payload.data?.length) values.push(Buffer.from(payload.data).toString('utf8'));
    }
  }
  return values;
}

/** The innermost cause: what went wrong, under "Activity task failed". */
function rootMessage(error: unknown): string {
  let current = error as { cause?: unknown; message?: string } | undefined;
  while (current?.cause) current = current.cause as typeof current;
  return String(current?.message);
}


function start(workflowId: string, input: Record<string, unknown>, taskQueue = TASK_QUEUE) {
  return client.workflow.start('diskReplacement', { taskQueue, workflowId: `${workflowId}-${Date.now()}`, args: [input] });
}

beforeAll(async () => {
  const dir = tempDir('disk');
  lab = await Lab.start({
    dir,
    subnet: 201,
    hosts: [
      presets.xenDom0Raid1('dom0-hot', { failedSlot: 0 }),
      presets.xenDom0Raid1('dom0-cold', { missingSlot: 0, bootDelayMs: 1500 }),
      presets.xenDom0Raid1('dom0-kill', { failedSlot: 1, resyncBytesPerSecond: 8001563222016 / 12 }),
      presets.xenDom0Raid1('dom0-evil'),
      presets.xenDom0Raid1('dom0-bad', { failedSlot: 0 }),
      presets.xenDom0Raid1('dom0-early', { failedSlot: 0 }),
      presets.xenDom0Raid1('dom0-page', { failedSlot: 0, failedOnlyIn: ['md1'] }),
    ],
  });
  codecKeyFile = writeTestCodecKey(dir);
  worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile });
  client = await codecClient(address, codecKeyFile);
});

afterAll(() => stopAll(worker, client, lab));

describe('diskReplacement', () => {
  it('replaces a failed disk hot-swapped while the host runs, and touches only the new disk', async () => {
    const survivor = lab.state('dom0-hot').disks.find((d) => d.slot === 1)!;
    const handle = await start('hot', { host: 'dom0-hot', ...fast });

    const progress = await waitingFor(handle, diskReplacedUpdate.name);
    expect(progress.waitingFor?.what).toContain(`keep the disk with serial ${survivor.serial}`);
    // The page: fail then remove, for every array that uses the disk; mdadm already marked both members
    // faulty, so only --remove is due (in /proc/mdstat order: md1, then md0).
    expect(hostChanges(lab.audit('dom0-hot'))).toEqual([
      'mdadm --manage /dev/md1 --remove /dev/sda3',
      'mdadm --manage /dev/md0 --remove /dev/sda2',
    ]);

    lab.swapDisk('dom0-hot', 0, { serial: 'ZNEW0001' });
    await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'camille' }] });
    const result = (await handle.result()) as DiskReplacementResult;

    expect(result.newDisk).toMatchObject({ serial: 'ZNEW0001', seenAs: 'sdc' });
    expect(result.arrays).toEqual([{ array: 'md1', health: 'UU' }, { array: 'md0', health: 'UU' }]);
    expect(hostChanges(lab.audit('dom0-hot')).slice(2)).toEqual([
      'sfdisk /dev/sdc',
      'mdadm --manage /dev/md1 --add /dev/sdc3',
      'mdadm --manage /dev/md0 --add /dev/sdc2',
      'grub-install /dev/sdc',
    ]);
    expect(arraysOf('dom0-hot')).toEqual([
      { array: 'md0', members: [`${survivor.serial}:2:active`, 'ZNEW0001:2:active'].sort() },
      { array: 'md1', members: [`${survivor.serial}:3:active`, 'ZNEW0001:3:active'].sort() },
    ]);
    expect(lab.state('dom0-hot').disks.find((d) => d.serial === 'ZNEW0001')!.bootCode).toBe('grub');
    expect(result.timeline.map((t) => t.step)).toHaveLength(9);
    // What the plan says is what ran: every command that changed the host, in order, reads aside.
    expect(changesByHost({ 'dom0-hot': lab.audit('dom0-hot') })).toEqual(planByHost((await handle.query(planQuery))!));
    await recordHistory(handle, 'diskReplacement-hot', codecKeyFile);
  });

  it('powers the host off for a cold swap and follows the new disk by serial when the kernel names swap', async () => {
    const survivor = lab.state('dom0-cold').disks.find((d) => d.slot === 1)!;
    expect(survivor.kname).toBe('sdb');
    const handle = await start('cold', { host: 'dom0-cold', swap: 'cold', ...fast });

    await eventually('dom0-cold to power off', () => !lab.isUp('dom0-cold') || undefined);
    lab.swapDisk('dom0-cold', 0, { serial: 'ZNEW0002' });
    lab.setRenameOnNextBoot('dom0-cold', true); // the page's warning: the old sdb may come back as sda
    lab.powerOn('dom0-cold');

    await waitingFor(handle, diskReplacedUpdate.name);
    expect(lab.state('dom0-cold').disks.find((d) => d.serial === survivor.serial)!.kname).toBe('sda');
    await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'dominique', comment: 'slot 0, cold' }] });
    const result = (await handle.result()) as DiskReplacementResult;

    expect(result.newDisk).toMatchObject({ serial: 'ZNEW0002', seenAs: 'sdb' });
    // Every change after the boot went to the new disk (now sdb), none to the survivor (now sda).
    const afterBoot = lab.audit('dom0-cold').slice(lab.audit('dom0-cold').findIndex((e) => e.command === 'poweroff') + 1);
    expect(hostChanges(afterBoot)).toEqual([
      'sfdisk /dev/sdb',
      'mdadm --manage /dev/md1 --add /dev/sdb3',
      'mdadm --manage /dev/md0 --add /dev/sdb2',
      'grub-install /dev/sdb',
    ]);
    expect(hostChanges(afterBoot).some((c) => /\/dev\/sda/.test(c))).toBe(false);
    expect(result.arrays.every((a) => a.health === 'UU')).toBe(true);
    // What ran is what the two plans said: the child's poweroff (the failed disk was gone: nothing to remove),
    // then the disk runbook's commands on the new disk.
    const plan = (await handle.query(planQuery))!;
    const poweroff = (await client.workflow.getHandle(`${handle.workflowId}-poweroff`).query(planQuery))!;
    expect(plan.steps.filter((s) => s.command.includes('--remove'))).toEqual([]);
    expect(changesByHost({ 'dom0-cold': lab.audit('dom0-cold') })).toEqual(planByHost(poweroff, plan));
    await recordHistory(handle, 'diskReplacement-cold', codecKeyFile);
    await recordHistory(client.workflow.getHandle(`${handle.workflowId}-poweroff`), 'rebootHost-poweroff', codecKeyFile);
  });

  it('refuses a diskReplaced answer sent out of turn or without an operator, leaving no Update in the history', async () => {
    const handle = await start('early', { host: 'dom0-early', ...fast });
    // Sent at once: the runbook is still diagnosing, not waiting for a swap.
    const early = await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'camille' }] }).catch((error: Error) => error);
    expect(rootMessage(early)).toBe('the runbook is not waiting for "diskReplaced" now');
    expect(await updateEvents(handle)).toEqual([]);

    await waitingFor(handle, diskReplacedUpdate.name);
    const anonymous = await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: '' }] }).catch((error: Error) => error);
    expect(rootMessage(anonymous)).toMatch(/by: say who swapped the disk/);
    expect(await updateEvents(handle)).toEqual([]);

    // Still waiting: the proper answer goes through, and is the only Update on record.
    lab.swapDisk('dom0-early', 0, { serial: 'ZNEW0004' });
    await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'camille' }] });
    const result = (await handle.result()) as DiskReplacementResult;
    expect(result.swappedBy).toEqual({ by: 'camille' });
    expect(await updateEvents(handle)).toEqual(['workflowExecutionUpdateAcceptedEventAttributes', 'workflowExecutionUpdateCompletedEventAttributes']);
  });

  it("fails md0's still-active member before removing it when only md1 marked the disk faulty (the page's --fail)", async () => {
    const survivor = lab.state('dom0-page').disks.find((d) => d.slot === 1)!;
    expect(lab.state('dom0-page').arrays.map((a) => `${a.name}:${a.members.map((m) => m.state).join(',')}`)).toEqual(['md0:active,active', 'md1:faulty,active']);
    const handle = await start('page', { host: 'dom0-page', ...fast });

    await waitingFor(handle, diskReplacedUpdate.name);
    const changes = hostChanges(lab.audit('dom0-page'));
    expect(changes.filter((c) => c.includes('--fail'))).toEqual(['mdadm --manage /dev/md0 --fail /dev/sda2']);
    expect(changes.indexOf('mdadm --manage /dev/md0 --fail /dev/sda2')).toBeLessThan(changes.indexOf('mdadm --manage /dev/md0 --remove /dev/sda2'));
    expect(changes).toContain('mdadm --manage /dev/md1 --remove /dev/sda3');

    lab.swapDisk('dom0-page', 0, { serial: 'ZNEW0005' });
    await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'camille' }] });
    const result = (await handle.result()) as DiskReplacementResult;
    // md1's member is already faulty: only md0's still-active member is failed (and the plan says so).
    expect(result.changes.filter((c) => c.step === 'mdadm --fail')).toEqual([{ step: 'mdadm --fail', array: 'md0', outcome: 'done' }]);
    expect(hostChanges(lab.audit('dom0-page')).filter((c) => c.includes('--fail'))).toHaveLength(1);
    expect(result.arrays).toEqual([{ array: 'md1', health: 'UU' }, { array: 'md0', health: 'UU' }]);
    expect(arraysOf('dom0-page')).toEqual([
      { array: 'md0', members: [`${survivor.serial}:2:active`, 'ZNEW0005:2:active'].sort() },
      { array: 'md1', members: [`${survivor.serial}:3:active`, 'ZNEW0005:3:active'].sort() },
    ]);
  });

  it('completes after the worker is SIGKILLed at several points, applying each change once', async () => {
    const handle = await start('kill', { host: 'dom0-kill', ...fast });
    const audit = () => lab.audit('dom0-kill').map((e) => e.command);
    const killAndRestart = async () => {
      worker.kill('SIGKILL');
      await worker.stopped;
      worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile });
    };

    await eventually('the first --remove', () => audit().some((c) => c.includes('--remove')) || undefined, 180_000); // a worker restart bundles the workflows: slow when the suite loads the machine
    await killAndRestart();
    await waitingFor(handle, diskReplacedUpdate.name);
    lab.swapDisk('dom0-kill', 1, { serial: 'ZNEW0003' });
    await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'sam' }] });
    await eventually('the partition table write', () => audit().some((c) => /^sfdisk \/dev\/\S+$/.test(c)) || undefined, 180_000);
    await killAndRestart();
    await eventually('the first --add', () => audit().some((c) => c.includes('--add')) || undefined, 180_000);
    await killAndRestart();
    await eventually('the resync to run', () => lab.state('dom0-kill').arrays.some((a) => a.members.some((m) => m.state === 'spare')) || undefined, 180_000);
    await killAndRestart();

    const result = (await handle.result()) as DiskReplacementResult;
    expect(result.arrays.every((a) => a.health === 'UU')).toBe(true);
    const changes = hostChanges(lab.audit('dom0-kill'));
    expect(changes).toEqual([...new Set(changes)]); // nothing applied twice
    expect(changes).toEqual([
      'mdadm --manage /dev/md1 --remove /dev/sdb3',
      'mdadm --manage /dev/md0 --remove /dev/sdb2',
      'sfdisk /dev/sdc',
      'mdadm --manage /dev/md1 --add /dev/sdc3',
      'mdadm --manage /dev/md0 --add /dev/sdc2',
      'grub-install /dev/sdc',
    ]);
  }, 600_000); // four worker restarts (each bundles the workflows) and their task timeouts: ~1 min idle, more under load

  it('sends no command at all to a host whose key does not match the pinned one', async () => {
    const dir = tempDir('evil');
    const inventory = structuredClone(lab.inventory);
    const evil = inventory.hosts.find((h) => h.name === 'dom0-evil')!;
    evil.hostKeys.openssh = inventory.hosts.find((h) => h.name === 'dom0-hot')!.hostKeys.openssh;
    const inventoryPath = join(dir, 'inventory.json');
    writeFileSync(inventoryPath, JSON.stringify(inventory));
    const impostorWorker = await startWorkerProcess({ address, inventoryPath, codecKeyFile, taskQueue: 'runbooks-evil' });
    try {
      const handle = await start('evil', { host: 'dom0-evil', ...fast }, 'runbooks-evil');
      // The first look at the host (a local activity, so its failure is the run's cause as it is) stops the run.
      const failure = await handle.result().catch((error: unknown) => error);
      expect(rootMessage(failure)).toMatch(/^host key mismatch for dom0-evil \(openssh\): expected SHA256:\S+, server presented SHA256:\S+\. Connection refused before authentication; no command was sent\.$/);
      expect(failure).toMatchObject({ cause: { type: 'HostKeyMismatch' } });
      expect(lab.audit('dom0-evil')).toEqual([]);
    } finally {
      impostorWorker.kill('SIGTERM');
      await impostorWorker.stopped;
    }
  });

  it.each([
    [{ host: 'no-such-host' }, /unknown host "no-such-host"/],
    [{ host: 'dom0-bad', failedDisk: 'sda; reboot' }, /failedDisk: must be a kernel disk name/],
    [{ host: 'dom0-bad', arrays: ['md0', '$(reboot)'] }, /arrays\[1\]: must be an md array name/],
    [{ host: 'dom0-bad', swap: 'yes' }, /swap:/],
  ])('refuses %j before any SSH, with a clear message', async (input, message) => {
    const before = lab.audit('dom0-bad').length;
    const failure = await start('bad', input).then((h) => h.result()).catch((error: Error & { cause?: Error }) => error);
    expect(rootMessage(failure)).toMatch(message);
    expect(lab.audit('dom0-bad').length).toBe(before);
  });

  it('refuses an array that does not exist after reading the host, before changing anything', async () => {
    const failure = await start('bad', { host: 'dom0-bad', arrays: ['md7'] }).then((h) => h.result()).catch((error: Error & { cause?: Error }) => error);
    expect(rootMessage(failure)).toMatch(/array md7 does not exist on this host \(arrays: md1, md0\)|array md7 does not exist on this host \(arrays: md0, md1\)/);
    expect(hostChanges(lab.audit('dom0-bad'))).toEqual([]);
  });

  it('stores nothing readable on the server: the raw history has no plaintext of the inputs or results', async () => {
    const raw = await rawClient(address);
    try {
      for await (const run of raw.workflow.list({ query: `WorkflowType = "diskReplacement"` })) {
        const events = await raw.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
        // The history's wire bytes: every payload's data as the server stores it.
        let history = Buffer.from(temporal.api.history.v1.History.encode(events).finish()).toString('latin1')
          // Workflow ids are not payloads: the host leases' own (lease-host:NAME@QUEUE, named for the admins) are in clear.
          .replace(/lease-host:[\w.-]+@[\w.-]+/g, 'lease-host:*');
        // Nor are our failures' messages: plain by design, what an admin reads (common/failure-converter.ts).
        for (const message of failureMessages(events)) history = history.replaceAll(Buffer.from(message).toString('latin1'), '*');
        // Nor are search attributes: indexed in clear so the UI's list can filter (the runbook, its hosts, who is awaited).
        for (const value of searchAttributeValues(events)) history = history.replaceAll(Buffer.from(value).toString('latin1'), '*');
        expect(history).toContain('diskReplacement'); // the check reads real history bytes
        for (const plaintext of ['dom0-hot', 'dom0-cold', 'dom0-kill', 'ZNEW0001', 'camille', 'resyncPollInterval', 'sfdisk', 'mdadm']) {
          expect(history).not.toContain(plaintext);
        }
      }
    } finally {
      await raw.connection.close();
    }
  });
});
