/**
 * The time-skipping test server with the real workflow code and mocked activities (no SSH, no lab), shared by the
 * branch tests: `useBranchesWorker(queue)` at a test file's top; `overrides` changes an activity for one test,
 * `calls` and `mails` say what the runbook asked for.
 */
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import type { Activities } from '../../activities/index.js';
import { leaseActivities } from '../../activities/leases.js';
import type { Diagnosis } from '../../activities/raid/activities.js';
import type { ClusterFacts } from '../../common/drain-plan.js';
import { failure } from '../../common/failures.js';
import { generateSealingKey } from '../../common/sealing.js';
import { testServerPath } from '../../scripts/temporal-bin.js';
import { decideUpdate } from '../../workflows/messages.js';
import { ensureSearchAttributes } from '../../worker/search-attributes.js';
import { workflowBundle } from '../../worker/bundle.js';

let TASK_QUEUE = 'runbooks-branches';
export let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;

/** What the mocked activities were asked to do, in order: `name(first argument)`. */
export let calls: string[];
export let mails: { subject: string; text: string; to?: string[] }[];
/** Per test: the activities that behave otherwise than the defaults below. */
/** The key ids the mocked worker holds: a test seals with `sealingKey` (or another key, to be refused). */
export const sealingKey = generateSealingKey();
const sealingKeyIds = [sealingKey.keyId];
export let overrides: Partial<Record<keyof Activities, (...args: never[]) => unknown>>;

export const GiB = 1024 ** 3;
const diagnosis: Diagnosis = {
  failed: { serial: 'FAILED01', model: 'disk', sizeBytes: 4 * GiB, seenAs: 'sda' },
  survivor: { serial: 'SURVIV01', model: 'disk', sizeBytes: 4 * GiB, seenAs: 'sdb' },
  failedMembers: [{ array: 'md0', partition: 2, state: 'faulty' }],
  layout: [{ array: 'md0', partition: 2 }],
};
export const pveFacts: ClusterFacts = {
  quorate: true,
  nodes: ['pve1', 'pve2', 'pve3'].map((node) => ({ node, online: true, memBytes: 64 * GiB, cpus: 16 })),
  guests: [{ vmid: 1002, type: 'qemu', name: 'shared', node: 'pve1', status: 'running', memBytes: 2 * GiB, cpus: 2, storages: ['ceph'] }],
  sharedStorages: ['ceph'],
  bootFreeBytes: GiB,
};

/** Defaults: a healthy host where every change works; tests override what their branch needs. */
function activities(): Record<string, (...args: unknown[]) => Promise<unknown>> {
  const defaults: Record<string, (...args: never[]) => unknown> = {
    lookUpHost: (host: string) => ({
      name: host, kind: host.startsWith('pve') ? 'proxmox-node' : 'xen-dom0', simulated: true, hasDropbear: host.startsWith('pve'),
      guests: [{ name: 'guest1', dependsOn: [] }],
    }),
    mailAdmins: (m: { subject: string; text: string }) => { mails.push(m); return { sent: true, to: ['admin@lab'] }; },
    // The lab's policy: one approval, unsigned allowed, by anyone named.
    approvalPolicy: () => ({ count: 1, signature: 'optional', expireAfter: '7 days' }),
    mailPeople: (roles: string[], m: { subject: string; text: string }) => { mails.push({ ...m, to: roles }); return { sent: true, to: roles }; },
    findFailedDisk: () => diagnosis,
    removeMember: () => 'done',
    identifyNewDisk: () => ({ serial: 'NEWDISK1', model: 'disk', sizeBytes: 4 * GiB, seenAs: 'sdc', alreadyPartitioned: false }),
    clonePartitionTable: () => 'done',
    addMember: () => 'done',
    readResync: () => [{ array: 'md0', health: 'UU', percent: null, speedKps: null, finishMinutes: null, waiting: false }],
    installBootloader: () => 'done',
    checkArrays: () => [{ array: 'md0', health: 'UU' }],
    readClusterFacts: () => pveFacts,
    listVolumes: (host: string) => [{ name: 'sda5_crypt', uuid: 'u1', device: '/dev/sda5', root: true, open: host === 'never' }],
    migrateGuest: () => 'done',
    readBootId: () => 'boot-1',
    sendPowerCommand: () => 'sent',
    expectDown: () => undefined,
    expectBack: () => 'boot-2',
    unlockRoot: () => ({ accepted: false, message: 'wrong passphrase' }),
    sealingKeyIds: () => sealingKeyIds,
    rootUnlockState: () => ({ state: 'locked', bootId: 'boot-2' }),
    readDomains: () => [{ name: 'guest1', id: 1, memMiB: 512, vcpus: 1, state: '-b----', timeSeconds: 1 }],
    shutdownDomain: () => 'done',
    destroyDomain: () => 'done',
    startDomain: () => 'done',
  };
  // Every activity the runbooks may call: a mocked one answers, another fails the test loudly.
  const names = [...Object.keys(defaults), 'markMemberFailed', 'shutdownGuest', 'startGuest', 'expectQuorate', 'expectStoragesActive', 'findLockedVolumes', 'openVolume', 'activateVolumeGroups'];
  const mocked = Object.fromEntries(names.map((name) => [name, async (...args: unknown[]) => {
    calls.push(`${name}(${typeof args[0] === 'string' ? args[0] : ''})`);
    const impl = (overrides as Record<string, (...a: unknown[]) => unknown>)[name] ?? (defaults as Record<string, (...a: unknown[]) => unknown>)[name];
    if (!impl) throw failure('InvalidInput', `activity ${name} is not mocked`);
    return impl(...args);
  }]));
  // The host leases are real: their workflows run on this server, through the worker's own client.
  return { ...mocked, ...leaseActivities() } as Record<string, (...args: unknown[]) => Promise<unknown>>;
}

/** The worker on the time-skipping server, for the calling test file (its own task queue). */
export function useBranchesWorker(taskQueue: string): void {
  TASK_QUEUE = taskQueue;
beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: testServerPath() } } });
  await ensureSearchAttributes(env.nativeConnection.operatorService, env.namespace ?? 'default');
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await workflowBundle({ workflowsPath: fileURLToPath(new URL('../../dist/workflows/index.js', import.meta.url)) }),
    activities: activities(),
  });
  running = worker.run();
});

afterAll(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running;
  await env?.teardown();
});

beforeEach(() => {
  calls = [];
  mails = [];
  overrides = {};
});
}

let n = 0;
export function start(type: string, input: Record<string, unknown>): Promise<WorkflowHandle> {
  return env.client.workflow.start(type, { taskQueue: TASK_QUEUE, workflowId: `${type}-${++n}`, args: [input] });
}

/** The run's failure: its type and message, as a person reads it. */
export async function failureOf(handle: WorkflowHandle): Promise<{ type?: string; message: string }> {
  const error = await handle.result().then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const cause = (error as WorkflowFailedError).cause as { type?: string; message: string };
  return { type: cause.type, message: cause.message };
}

export const decide = (handle: WorkflowHandle, decision: string, comment?: string) =>
  handle.executeUpdate(decideUpdate, { args: [{ by: 'alice', decision: decision as 'retry', comment }] });
