/**
 * A detached job's state and progress: `systemctl show UNIT --property=…` (KEY=VALUE lines; an unknown unit is
 * LoadState=not-found) and the tail of its stderr, where dd status=progress writes "N bytes (…) copied, T s, R MB/s"
 * lines separated by carriage returns, then its records in/out and the final line.
 */
import { ParseError } from './mdstat.js';

export interface UnitState {
  exists: boolean;
  /** running: still at work; succeeded / failed: ended, with its exit status. */
  phase: 'running' | 'succeeded' | 'failed' | 'absent';
  exitStatus: number;
  result: string;
}

export function parseUnitState(text: string): UnitState {
  const props = new Map(text.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
  for (const key of ['LoadState', 'ActiveState', 'SubState']) if (!props.has(key)) throw new ParseError(`systemctl show: no ${key}`);
  const exitStatus = Number(props.get('ExecMainStatus') ?? '0');
  if (!Number.isInteger(exitStatus)) throw new ParseError(`systemctl show: ExecMainStatus "${props.get('ExecMainStatus')}" is not a number`);
  const [load, active, sub, result] = [props.get('LoadState')!, props.get('ActiveState')!, props.get('SubState')!, props.get('Result') ?? ''];
  if (load === 'not-found') return { exists: false, phase: 'absent', exitStatus: 0, result };
  // remain-after-exit: an ended main process leaves the unit active/exited; a failing one leaves it failed.
  const phase = active === 'failed' || (sub === 'exited' && (exitStatus !== 0 || result !== 'success')) ? 'failed'
    : sub === 'exited' ? 'succeeded'
    : active === 'inactive' ? 'absent' : 'running';
  return { exists: true, phase, exitStatus, result };
}

/** The bytes dd has copied so far, from the last progress or final line of its stderr; 0 before the first. */
export function parseDdBytes(log: string): number {
  const matches = [...log.matchAll(/(?:^|[\r\n])\s*(\d+) bytes\b[^\r\n]* copied/g)];
  return matches.length ? Number(matches.at(-1)![1]) : 0;
}

/** The last non-empty line of a log (for a failed job's message). */
export function lastLine(log: string): string {
  return log.split(/[\r\n]+/).map((l) => l.trim()).filter(Boolean).at(-1) ?? '';
}
