/** The worker's log reads one line per event: an SSH command with its host, exit and duration, no task token. */
import { describe, expect, it } from 'vitest';
import { formatLogEntry } from '../worker/log.js';

const at = 1_795_000_000_000n * 1_000_000n;

describe('worker log', () => {
  it('prints an SSH command on one line, without the task token', () => {
    const line = formatLogEntry({
      level: 'INFO', message: 'ssh command', timestampNanos: at,
      meta: { taskToken: 'CiQwMWEy', workflowId: 'q1', workflowType: 'diskReplacement', activityType: 'addMember', host: 'dom0-a', command: 'mdadm --manage /dev/md1 --add /dev/sdc3', exitCode: 0, ms: 41 },
    });
    expect(line).toBe('2026-11-18T11:06:40.000Z ssh dom0-a: mdadm --manage /dev/md1 --add /dev/sdc3 → exit 0 in 41 ms [q1 diskReplacement]');
  });

  it('keeps a warning on one line with its first message line and leaves the bundler listing out', () => {
    const line = formatLogEntry({ level: 'WARN', message: 'Activity failed', timestampNanos: at, meta: { taskToken: 'x', workflowId: 'q1', workflowType: 'diskReplacement', activityType: 'probe', attempt: 3, error: new Error('invalid input:\nhost: unknown') } });
    expect(line).toBe('2026-11-18T11:06:40.000Z WARN Activity failed [q1 diskReplacement] activityType=probe attempt=3 error=invalid input: / host: unknown');
    expect(formatLogEntry({ level: 'INFO', message: 'asset workflow-bundle-ff19.js 3.03 MiB [emitted]\nmodules by path ./node_modules/', timestampNanos: at })).toBeUndefined();
  });
});
