/**
 * The worker's Prometheus metrics (RUNBOOK_METRICS_PORT, on 127.0.0.1:PORT/metrics): the SDK's own runtime
 * telemetry (task latencies, slots, sticky cache, polls) and ours, through the same meter: SSH commands per host and
 * exit code, their duration, channel opens refused by the host, channels in use and commands queued per connection,
 * and the runbooks waiting for a person.
 */
import type { Client } from '@temporalio/client';
import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import type { PoolObserver } from '../activities/ssh/pool.js';
import { RUNBOOK_WAITING_FOR } from '../common/search-attributes.js';

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
  const inUse = meter.createGauge('runbook_ssh_channels_in_use', 'int', '', 'SSH channels open now, by host and boot stage');
  const queued = meter.createGauge('runbook_ssh_commands_queued', 'int', '', 'commands waiting for a free channel, by host and boot stage');
  return {
    command(host, exitCode, ms) {
      commands.add(1, { host, exit_code: exitCode === null ? 'signal' : String(exitCode) });
      duration.record(ms, { host });
    },
    channelOpenRefused(host) {
      refusals.add(1, { host });
    },
    channels(host, stage, channels, waiting) {
      inUse.set(channels, { host, stage });
      queued.set(waiting, { host, stage });
    },
  };
}

const WAITING_EVERY_MS = 5_000;

/**
 * The runbooks of a task queue waiting for a person, counted every 5 s from the server's visibility (the
 * RunbookWaitingFor search attribute every wait sets): the server knows them all, including those no worker holds
 * in its cache. Stops with `signal`.
 */
export function waitingForPeopleMetric(client: Client, taskQueue: string, signal: AbortSignal): void {
  const gauge = Runtime.instance().metricMeter.createGauge('runbook_waiting_for_person', 'int', '', 'runbooks waiting for a person (an approval, an answer)');
  const query = `TaskQueue = '${taskQueue.replaceAll("'", "\\'")}' AND ExecutionStatus = 'Running' AND ${RUNBOOK_WAITING_FOR.name} IS NOT NULL`;
  const count = async () => {
    try {
      gauge.set((await client.workflow.count(query)).count, { task_queue: taskQueue });
    } catch (error) {
      if (!signal.aborted) console.warn(`worker: cannot count the runbooks waiting for a person: ${(error as Error).message}`);
    }
  };
  const timer = setInterval(() => void count(), WAITING_EVERY_MS);
  timer.unref();
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  void count();
}
