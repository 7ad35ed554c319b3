/**
 * How every runbook calls its activities: the one module of activity options. Reads retry freely; host changes
 * retry a few times (each is guarded, so a retry finds the change made), then a person is asked; a passphrase try
 * never retries (it would spend a try unseen); polling is one probe per attempt with the retry policy's backoff
 * between them, bounded by the caller's timeout. What is never retried comes from the failure catalogue.
 * Heartbeats (sent once a step has run 5 s: activities/ssh/remote.ts; the worker sends them on at most 5 s apart)
 * and the heartbeat timeout let a retry start within 15 s when a worker dies mid-step.
 */
import type { Duration } from '@temporalio/common';
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE } from '../common/failures.js';

const remoteReads = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '15s',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE },
});

/**
 * Short reads that change nothing anywhere (the inventory, a look at a host) run as local activities: in the worker
 * that runs the workflow task, with no round trip through the server's task queue. A worker that dies during one
 * leaves the workflow task to time out, and the next worker reads again, which a read may always do. No
 * heartbeats (a read is seconds), so no heartbeat timeout.
 */
const localReads = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE },
});

const LOCAL_READS: ReadonlySet<string> = new Set<keyof Activities>([
  'lookUpHost', 'lookUpCluster', 'approvalPolicy', 'sealingKeyIds',
  'checkArrays', 'findFailedDisk', 'identifyNewDisk', 'readResync', 'findLockedVolumes', 'readBootId',
  'readDomains', 'readClusterFacts', 'readVmStorages', 'readVmGenId', 'readSshSetup', 'readRootMode',
  'readVolumeSpace', 'listVolumes', 'volumeExists', 'readSnapshot', 'readSnapshotFill', 'fileSize',
  'readMemberCapacity', 'memberVmAddresses',
]);

/**
 * Activities that change no host: the short reads above as local activities, the rest (mail, leases, the request
 * mailbox, a passphrase test) as regular ones, which retry on another worker and show in the server's task queue.
 */
export const readOnly: typeof remoteReads = new Proxy(remoteReads, {
  get: (target, name) => (typeof name === 'string' && LOCAL_READS.has(name) ? Reflect.get(localReads, name) : Reflect.get(target, name)),
});

export const hostChange = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '15s',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
});

export const passphraseTry = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '15s',
  retry: { maximumAttempts: 1 },
});

/**
 * Activities that fail (benign) until what they wait for is true, retried every `every` until `within` has passed.
 * `steady` keeps the interval fixed (waiting for a host to go down); otherwise it grows to at most a minute.
 */
export function polling(every: Duration, within: Duration, { steady = false } = {}) {
  return proxyActivities<Activities>({
    startToCloseTimeout: '1 minute',
    heartbeatTimeout: '15s',
    scheduleToCloseTimeout: within,
    retry: steady
      ? { initialInterval: every, backoffCoefficient: 1, nonRetryableErrorTypes: NON_RETRYABLE }
      : { initialInterval: every, backoffCoefficient: 1.2, maximumInterval: '1 minute', nonRetryableErrorTypes: NON_RETRYABLE },
  });
}

/** Watching a detached job: a window of polls with a heartbeat each second, so a dead worker is noticed in seconds. */
export const jobWatch = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '10s',
  retry: { maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE },
});
