/**
 * The worker's Prometheus metrics (RUNBOOK_METRICS_PORT, on 127.0.0.1:PORT/metrics): the SDK's own runtime
 * telemetry (task latencies, slots, sticky cache, polls) and ours, through the same meter: SSH commands per host and
 * exit code, their duration, and channel opens refused by the host.
 */
import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import type { PoolObserver } from '../activities/ssh/pool.js';

/** The runtime's telemetry with a Prometheus exporter (Runtime.install, once, before any connection). */
export function metricsTelemetry(port: number): NonNullable<RuntimeOptions['telemetryOptions']> {
  return { metrics: { prometheus: { bindAddress: `127.0.0.1:${port}` } } };
}

/** Our SSH metrics, through the installed runtime's meter. */
export function poolMetrics(): PoolObserver {
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
