/**
 * Runbooks that last days, tested in seconds: Temporal's time-skipping test server skips the workflow's timers
 * (the hourly look at the resync, the days an operator takes to swap a disk) while every SSH step still runs
 * for real against lab hosts behind OpenSSH.
 *
 * How it plays with our waits, as observed here: the clock does not jump while an activity attempt runs (15 s
 * heartbeat timeouts never fire), but the backoff between two attempts of a retry-policy poll (rebootHost's
 * expectBack) is skipped like any timer. Skipped hours with a host off are thus spent as a burst of failed
 * probes, and they count against the poll's scheduleToClose (the cold swap's bootTimeout).
 * Awaiting a result skips every timer, the runbook's 30-day wait for the operator included: Updates are sent
 * before `result()`, and `env.sleep` skips a chosen span before that.
 */
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities/index.js';
import { clientDataConverter, workerDataConverter } from '../common/temporal.js';
import { Lab, presets } from '../lab/lab.js';
import { testServerPath } from '../scripts/temporal-bin.js';
import type { DiskReplacementResult } from '../workflows/diskReplacement.js';
import { diskReplacedUpdate } from '../workflows/messages.js';
import type { RebootHostResult } from '../workflows/rebootHost.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { eventually, hostChanges, tempDir, waitingFor } from './helpers/runbooks.js';
import { workflowBundle } from '../worker/bundle.js';
import { ensureSearchAttributes } from '../worker/search-attributes.js';

const TASK_QUEUE = 'runbooks-time-skipping';
const HOUR = 3600;
const DAY = 24 * HOUR;
let lab: Lab;
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;

beforeAll(async () => {
  // The in-process worker would log every SSH command, and every failed probe of a host that is off as a warning.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const dir = tempDir('timeskip');
  lab = await Lab.start({
    dir,
    subnet: 216,
    hosts: [
      // A resync of a few wall seconds: with hourly looks that are skipped, the loop runs several times.
      presets.xenDom0Raid1('dom0-slow', { failedSlot: 0, resyncBytesPerSecond: 8001563222016 / 4 }),
      presets.xenDom0Raid1('dom0-cold', { failedSlot: 1, bootDelayMs: 500 }),
    ],
  });
  const codecEnv = { RUNBOOK_CODEC_KEY_FILE: writeTestCodecKey(dir) };
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServerPath() } },
    client: { dataConverter: clientDataConverter(codecEnv) },
  });
  await ensureSearchAttributes(env.nativeConnection.operatorService, env.namespace ?? 'default');
  // The sandbox loads the converters by path: the built ones, as the worker process does.
  const dataConverter = {
    ...workerDataConverter(codecEnv),
    payloadConverterPath: fileURLToPath(new URL('../dist/common/payload-converter.js', import.meta.url)),
    failureConverterPath: fileURLToPath(new URL('../dist/common/failure-converter.js', import.meta.url)),
  };
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await workflowBundle({ workflowsPath: fileURLToPath(new URL('../dist/workflows/index.js', import.meta.url)), payloadConverterPath: dataConverter.payloadConverterPath, failureConverterPath: dataConverter.failureConverterPath }),
    activities: createActivities(lab.inventory),
    dataConverter,
  });
  running = worker.run();
});

afterAll(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running;
  await env?.teardown();
  await lab?.stop();
});

function stepSeconds(timeline: DiskReplacementResult['timeline'], step: string): number {
  return timeline.find((t) => t.step === step)?.seconds ?? NaN;
}

describe('diskReplacement on the time-skipping test server, against the real lab', () => {
  it('waits three days for the operator and looks at the resync hourly, in seconds of wall time', async () => {
    const startedAt = await env.currentTimeMs();
    const handle = await env.client.workflow.start('diskReplacement', {
      taskQueue: TASK_QUEUE,
      workflowId: `slow-${Date.now()}`,
      args: [{ host: 'dom0-slow', resyncPollInterval: '1 hour' }],
    });
    await waitingFor(handle, diskReplacedUpdate.name);

    await env.sleep('3 days'); // the operator takes the weekend; the 30-day wait is a timer, so it is skipped
    expect((await handle.describe()).status.name).toBe('RUNNING');
    lab.swapDisk('dom0-slow', 0, { serial: 'ZSKIP001' });
    await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'camille', comment: 'after the weekend' }] });
    const result = (await handle.result()) as DiskReplacementResult; // awaiting the result lets the server skip timers

    expect(result.arrays).toEqual([{ array: 'md1', health: 'UU' }, { array: 'md0', health: 'UU' }]);
    expect(hostChanges(lab.audit('dom0-slow'))).toEqual([
      'mdadm --manage /dev/md1 --remove /dev/sda3',
      'mdadm --manage /dev/md0 --remove /dev/sda2',
      'sfdisk /dev/sdc',
      'mdadm --manage /dev/md1 --add /dev/sdc3',
      'mdadm --manage /dev/md0 --add /dev/sdc2',
      'grub-install /dev/sdc',
    ]);
    expect(stepSeconds(result.timeline, 'swap the disk')).toBeGreaterThanOrEqual(3 * DAY);
    // At least one hourly timer passed between looks at /proc/mdstat (the lab's resync takes real seconds).
    expect(stepSeconds(result.timeline, 'wait for the resync')).toBeGreaterThanOrEqual(HOUR);
    const resyncLooks = lab.audit('dom0-slow').filter((e) => e.command === 'cat /proc/mdstat').length;
    expect(resyncLooks).toBeGreaterThan(2);
    expect((await env.currentTimeMs()) - startedAt).toBeGreaterThanOrEqual(3 * DAY * 1000);
  });

  it('keeps a cold swap waiting two hours for the power button: the rebootHost child polls by retry until the host answers', async () => {
    const workflowId = `cold-${Date.now()}`;
    const handle = await env.client.workflow.start('diskReplacement', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ host: 'dom0-cold', swap: 'cold', bootTimeout: '1 day', resyncPollInterval: '1 hour' }],
    });
    await eventually('dom0-cold to power off', () => !lab.isUp('dom0-cold') || undefined);

    // Two hours with the host off: each failed probe holds the clock, the backoff between probes is skipped.
    await env.sleep('2 hours');
    // The skipped hours were spent probing: one failed expectBack attempt per (skipped) backoff.
    const { raw } = await env.client.workflow.getHandle(`${workflowId}-poweroff`).describe();
    const probe = raw.pendingActivities?.find((a) => a.activityType?.name === 'expectBack');
    expect(probe?.attempt).toBeGreaterThan(50);
    lab.swapDisk('dom0-cold', 1, { serial: 'ZSKIP002' });
    await lab.powerOn('dom0-cold');
    // Not awaiting the result yet (that would also skip the runbook's 30-day wait for the operator):
    // skip past the next probe's backoff (at most a minute) by hand.
    await env.sleep('2 minutes');
    await waitingFor(handle, diskReplacedUpdate.name);
    await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'dominique' }] });
    const result = (await handle.result()) as DiskReplacementResult;

    expect(result.arrays.every((a) => a.health === 'UU')).toBe(true);
    const child = (await env.client.workflow.getHandle(`${workflowId}-poweroff`).result()) as RebootHostResult;
    expect(child.bootIdAfter).not.toBe(child.bootIdBefore);
    expect(stepSeconds(child.timeline, 'wait for the host to answer again')).toBeGreaterThanOrEqual(2 * HOUR);
    expect(lab.audit('dom0-cold').filter((e) => e.command === 'poweroff')).toHaveLength(1);
  });
});
