/**
 * How the hypervisor runbooks call their activities. Reads retry freely; host changes retry a few times (each is
 * guarded, so a retry finds the change made); a passphrase try never retries (it would spend a try unseen);
 * polling is one probe per attempt with the retry policy's backoff between them, bounded by the caller's timeout.
 */
import type { Duration } from '@temporalio/common';
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';

const NOT_RETRYABLE = ['HostKeyMismatch', 'UnknownHost', 'InvalidInput', 'Refused', 'GuestElsewhere', 'NotConfigured'];

export const readOnly = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: NOT_RETRYABLE },
});

export const hostChange = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NOT_RETRYABLE },
});

export const passphraseTry = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 1 },
});

/** Activities that fail until what they wait for is true, retried every `every` until `within` has passed. */
export function polling(every: Duration, within: Duration) {
  return proxyActivities<Activities>({
    startToCloseTimeout: '1 minute',
    heartbeatTimeout: '30s',
    scheduleToCloseTimeout: within,
    retry: { initialInterval: every, backoffCoefficient: 1.2, maximumInterval: '1 minute', nonRetryableErrorTypes: NOT_RETRYABLE },
  });
}
