/**
 * The worker's log, one line per event, for a person reading a terminal: an SSH command is
 * `ssh dom0-a: mdadm --manage /dev/md1 --add /dev/sdc3 → exit 0 in 41 ms [q1 diskReplacement]`, never a 15-line
 * block with a task token; the bundler's module listing is left out (one line says the bundle is ready).
 */
import { DefaultLogger, type LogEntry, type LogLevel } from '@temporalio/worker';

/** The metadata worth a person's eyes, in this order; the rest (task tokens, run ids, namespaces) stays out. */
const SHOWN = ['workflowId', 'workflowType', 'activityType', 'attempt', 'state', 'size', 'error', 'failure'] as const;

function value(v: unknown): string {
  // The whole message on the line (a validation error lists its fields on lines of their own); never the stack.
  if (v instanceof Error) return value(v.message.trim().replace(/\s*\n\s*/g, ' / '));
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

export function formatLogEntry({ level, message, meta = {}, timestampNanos }: LogEntry): string | undefined {
  // webpack's stats arrive as one multi-line INFO message; "Workflow bundle created" follows with the size.
  if (message.startsWith('asset workflow-bundle') || message.startsWith('No Nexus services registered')) return undefined;
  const time = new Date(Number(timestampNanos / 1_000_000n)).toISOString();
  const m = meta as Record<string, unknown>;
  const run = m.workflowId ? ` [${String(m.workflowId)} ${String(m.workflowType ?? '')}]`.replace(' ]', ']') : '';
  if (message === 'ssh command') {
    const exit = m.exitCode === null ? `signal ${String(m.signal ?? '?')}` : `exit ${String(m.exitCode)}`;
    return `${time} ssh ${String(m.host)}: ${String(m.command)} → ${exit} in ${String(m.ms)} ms${run}`;
  }
  const shown = SHOWN.filter((k) => m[k] !== undefined && k !== 'workflowId' && k !== 'workflowType').map((k) => `${k}=${value(m[k])}`);
  return `${time} ${level} ${message}${run}${shown.length ? ` ${shown.join(' ')}` : ''}`;
}

export function workerLogger(level: LogLevel = 'INFO'): DefaultLogger {
  return new DefaultLogger(level, (entry) => {
    const line = formatLogEntry(entry);
    if (line === undefined) return;
    if (entry.level === 'WARN' || entry.level === 'ERROR') console.error(line);
    else console.log(line);
  });
}
