/**
 * The worker's Prometheus metrics (RUNBOOK_METRICS_PORT, on 127.0.0.1:PORT/metrics): the SDK's own runtime
 * telemetry (task latencies, slots, sticky cache, polls) and ours, through the same meter: SSH commands per host and
 * exit code, their duration, and channel opens refused by the host.
 */
import { Runtime } from '@temporalio/worker';
import type { PoolObserver } from '../activities/ssh/pool.js';

/** Install the runtime with a Prometheus exporter (before any connection: the runtime is created once). */
export function installMetrics(port: number): PoolObserver {
  Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${port}` } } } });
  const meter = Runtime.instance().metricMeter;
  const commands = meter.createCounter('runbook_ssh_commands', '', 'SSH commands run, by host and exit code');
  const duration = meter.createHistogram('runbook_ssh_command_duration', 'float', 'ms', 'SSH command duration, channel open to exit');
  const refusals = meter.createCounter('runbook_ssh_channel_open_refusals', '', 'channel opens the host refused (MaxSessions), each retried');
  return {
    command(host, exitCode, ms) {
      commands.add(1, { host, exit_code: exitCode === null ? 'signal' : String(exitCode) });
      duration.record(ms, { host });
    },
    channelOpenRefused(host) {
      refusals.add(1, { host });
    },
  };
}
