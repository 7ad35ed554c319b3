/**
 * Detached jobs on a simulated host: `systemd-run --unit=NAME --remain-after-exit … -- bash -o pipefail -c '…'`
 * starts a transient unit that lives in the host's state, not in the SSH session, so it goes on when the channel
 * drops or the worker dies; `systemctl show`, `systemctl stop|reset-failed` and `tail -c N /run/NAME.log` (dd's
 * progress) look at it. The lab runs the page's two long pipelines: `dd if=LV … | bzip2 -9 > FILE` and
 * `bunzip2 -c FILE | dd of=LV …`, copying at `jobBytesPerSecond`; backup files keep the LV's content label. And
 * `lvconvert --merge SNAPSHOT`, whose copy-on-write data goes back at the same rate, the merge done at its end.
 */
import type { Capability } from '../../core/capability.js';
import { splitWords } from '../../words.js';
import { fail, ok, type CommandResult, type ExecContext } from '../../core/types.js';
import { lvconvert } from '../lvm/changes.js';
import { findLv, lvBytes, type WithLvm } from '../lvm/model.js';

export interface Job {
  unit: string;
  command: string;
  kind: 'backup' | 'restore' | 'merge' | 'other';
  /** The LV read (backup) or written (restore), and the file written or read. */
  device: string;
  file: string;
  totalBytes: number;
  startedAt: number;
  /** While running: the bytes copied at the last settle. */
  copiedBytes: number;
  endedAt?: number;
  exitStatus?: number;
  /** What the job wrote on stderr besides dd's progress (an error). */
  error?: string;
  /** A job another capability simulates (jobSimulators): when it ends, with which status and output. */
  endsAt?: number;
  endStatus?: number;
  output?: string;
}

/**
 * A long command another capability simulates as a job (Ganeti's `gnt-instance add`): `start` applies its effect
 * (it sees the lab through ctx) and says how long it lasts, its exit status and its output (the job's log).
 */
export interface JobSimulator {
  matches(command: string): boolean;
  start(state: WithJobs, command: string, ctx: ExecContext): { durationMs: number; exitStatus: number; output: string };
}
const jobSimulators: JobSimulator[] = [];

/** The arguments of a job's command after its leading words (`lvresize`, `gnt-instance add`); null for another command. */
export function jobArgs(command: string, ...leading: string[]): string[] | null {
  try {
    const words = splitWords(command);
    return leading.every((word, i) => words[i] === word) ? words.slice(leading.length) : null;
  } catch {
    return null;
  }
}
export function simulateJobs(simulator: JobSimulator): void {
  jobSimulators.push(simulator);
}

export interface WithJobs extends WithLvm {
  jobs?: Job[];
  /** Files the jobs wrote, by path: their size and what they hold (the LV's content label). */
  files?: Record<string, { sizeBytes: number; content: string }>;
  jobBytesPerSecond?: number;
}

/** The page's dom0 has a writable filesystem for backups; the rest of its root is read-only. */
export const BACKUP_DIR = '/srv/backup/';
const writable = (state: WithJobs, path: string) => !state.rootReadOnly || path.startsWith(BACKUP_DIR) || path.startsWith('/run/');

const PIPELINES: [Job['kind'], RegExp][] = [
  ['backup', /^dd if=(\S+) bs=1M status=progress \| bzip2 -9 > (\S+)$/],
  ['restore', /^bunzip2 -c (\S+) \| dd of=(\S+) bs=1M status=progress$/],
  ['merge', /^lvconvert --merge (\S+)$/],
];

function ddLine(bytes: number, seconds: number): string {
  const si = bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(0)} MB`;
  const bin = bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
  return `${bytes} bytes (${si}, ${bin}) copied, ${seconds.toFixed(bytes ? 1 : 0)} s, ${seconds ? ((bytes / seconds) / 1e6).toFixed(0) : 0} MB/s`;
}

function start(state: WithJobs, args: string[], ctx: ExecContext): CommandResult | null {
  const now = ctx.now;
  const unitArg = args.find((a) => a.startsWith('--unit='));
  const dash = args.indexOf('--');
  const [shell, o, c, script] = args.slice(dash + 1);
  if (!unitArg || dash < 0 || shell !== 'bash' || o !== '-o' || c !== 'pipefail' || script !== '-c' || args.length !== dash + 6) {
    return fail(1, 'runbook-lab: the lab simulates "systemd-run --unit=NAME [--remain-after-exit] [--quiet] [--property=…] -- bash -o pipefail -c SCRIPT"\n');
  }
  const unit = unitArg.slice('--unit='.length);
  const command = args[dash + 5]!;
  state.jobs ??= [];
  if (state.jobs.some((j) => j.unit === unit)) return fail(1, `Failed to start transient service unit: Unit ${unit}.service was already loaded or has a fragment file.\n`);
  const job: Job = { unit, command, kind: 'other', device: '', file: '', totalBytes: 0, startedAt: now, copiedBytes: 0 };
  const end = (exitStatus: number, error: string) => Object.assign(job, { endedAt: now, exitStatus, error });
  const match = PIPELINES.map(([kind, re]) => [kind, re.exec(command)] as const).find(([, m]) => m);
  const simulator = match ? undefined : jobSimulators.find((s) => s.matches(command));
  if (simulator) {
    // The simulator may look at the lab, which settles this host: the job joins the list once it knows its end.
    const run = simulator.start(state, command, ctx);
    state.jobs.push(Object.assign(job, { endsAt: now + run.durationMs, endStatus: run.exitStatus, output: run.output }));
    return ok();
  }
  state.jobs.push(job);
  if (!match) { end(127, `runbook-lab: the job "${command}" is not simulated\n`); return ok(); }
  const [kind, m] = match;
  const [device, file] = kind === 'backup' || kind === 'merge' ? [m![1]!, m![2] ?? ''] : [m![2]!, m![1]!];
  Object.assign(job, { kind, device, file });
  const lv = state.lvm ? findLv(state.lvm, device) : undefined;
  if (kind === 'merge') {
    // What goes back is the snapshot's copy-on-write data; lvconvert's own checks run at the merge's end.
    if (!lv) end(5, `  Failed to find logical volume "${device.replace(/^\/dev\//, '')}"\n`);
    else job.totalBytes = Math.floor(lv.usedBytes ?? 0);
    return ok();
  }
  if (!lv) { end(1, `dd: failed to open '${device}': No such file or directory\n`); return ok(); }
  // A snapshot's device reads as its origin: its size is the origin's, not its copy-on-write space's.
  const origin = lv.origin ? state.lvm!.lvs.find((l) => l.vg === lv.vg && l.name === lv.origin) : undefined;
  job.totalBytes = lvBytes(origin ?? lv);
  if (kind === 'backup' && !writable(state, file)) end(1, `bash: line 1: ${file}: Read-only file system\n`);
  if (kind === 'restore' && !state.files?.[file]) end(1, `bunzip2: Can't open input file ${file}: No such file or directory.\n`);
  return ok();
}

/** Bring the running jobs to `now`: bytes copied, and a finished copy's effect (the file written, the LV restored). */
function settleJobs(state: WithJobs, now: number): void {
  const rate = state.jobBytesPerSecond ?? 1024 ** 3;
  for (const job of state.jobs ?? []) {
    if (job.endedAt !== undefined) continue;
    if (job.endsAt !== undefined) {
      if (now >= job.endsAt) Object.assign(job, { endedAt: job.endsAt, exitStatus: job.endStatus ?? 0, ...(job.endStatus ? { error: job.output } : {}) });
      continue;
    }
    job.copiedBytes = Math.min(job.totalBytes, Math.floor(((now - job.startedAt) / 1000) * rate));
    if (job.copiedBytes < job.totalBytes) continue;
    job.endedAt = job.startedAt + (job.totalBytes / rate) * 1000;
    job.exitStatus = 0;
    if (job.kind === 'merge') {
      const merged = lvconvert(state, ['--merge', job.device]);
      if (merged.exitCode !== 0) Object.assign(job, { exitStatus: merged.exitCode, error: merged.stderr });
      continue;
    }
    const lv = findLv(state.lvm!, job.device);
    if (job.kind === 'backup') (state.files ??= {})[job.file] = { sizeBytes: Math.floor(job.totalBytes / 3), content: lv?.content ?? '' };
    else if (lv) lv.content = state.files![job.file]!.content;
  }
}

function show(state: WithJobs, args: string[]): CommandResult | null {
  if (args.length !== 3 || args[0] !== 'show' || args[2] !== '--property=LoadState,ActiveState,SubState,Result,ExecMainStatus') return null;
  const job = state.jobs?.find((j) => j.unit === args[1] || `${j.unit}.service` === args[1]);
  if (!job) return ok('LoadState=not-found\nActiveState=inactive\nSubState=dead\nResult=success\nExecMainStatus=0\n');
  const [active, sub, result] = job.endedAt === undefined ? ['active', 'running', 'success']
    : job.exitStatus === 0 ? ['active', 'exited', 'success'] : ['failed', 'failed', 'exit-code'];
  return ok(`LoadState=loaded\nActiveState=${active}\nSubState=${sub}\nResult=${result}\nExecMainStatus=${job.exitStatus ?? 0}\n`);
}

function forget(state: WithJobs, args: string[]): CommandResult | null {
  if (args.length !== 2 || (args[0] !== 'stop' && args[0] !== 'reset-failed')) return null;
  const i = (state.jobs ?? []).findIndex((j) => j.unit === args[1]);
  if (i < 0) return args[0] === 'stop' ? ok() : fail(1, `Failed to reset failed state of unit ${args[1]}.service: Unit ${args[1]}.service not loaded.\n`);
  const job = state.jobs![i]!;
  if (args[0] === 'reset-failed' && job.exitStatus === 0) return ok();
  // stop kills a running job (its copy is left half done) and removes an ended one; reset-failed removes a failed one.
  if (args[0] === 'stop' || job.exitStatus !== 0) state.jobs!.splice(i, 1);
  return ok();
}

/** dd's stderr: progress lines separated by carriage returns, then its records and final line, or the error. */
function log(state: WithJobs, unit: string, now: number): string | null {
  const job = state.jobs?.find((j) => j.unit === unit);
  if (!job) return null;
  if (job.error) return job.error;
  if (job.endsAt !== undefined) return job.endedAt === undefined ? '' : job.output ?? '';
  if (job.kind === 'merge') {
    const percent = job.totalBytes ? (100 * job.copiedBytes) / job.totalBytes : job.endedAt === undefined ? 0 : 100;
    return `  Merging of volume ${job.device.replace(/^\/dev\//, '')} started.\n  ${job.device.replace(/^\/dev\//, '')}: Merged: ${percent.toFixed(2)}%\n`;
  }
  const seconds = ((job.endedAt ?? now) - job.startedAt) / 1000;
  const steps = Math.max(1, Math.floor(seconds));
  let out = Array.from({ length: steps }, (_, i) => `${ddLine(Math.floor((job.copiedBytes * (i + 1)) / steps), Math.min(seconds, i + 1))}\r`).join('');
  if (job.endedAt !== undefined) {
    const records = Math.floor(job.totalBytes / 1024 ** 2);
    out += `\n${records}+0 records in\n${records}+0 records out\n${ddLine(job.totalBytes, seconds)}\n`;
  }
  return out;
}

function tail(state: WithJobs, args: string[], now: number): CommandResult | null {
  if (args.length !== 3 || args[0] !== '-c' || !/^\d+$/.test(args[1]!) || !args[2]!.startsWith('/run/') || !args[2]!.endsWith('.log')) return null;
  const text = log(state, args[2]!.slice('/run/'.length, -'.log'.length), now);
  if (text === null) return fail(1, `tail: cannot open '${args[2]}' for reading: No such file or directory\n`);
  return ok(text.slice(-Number(args[1])));
}

function stat(state: WithJobs, args: string[]): CommandResult | null {
  if (args.length !== 2 || args[0] !== '--format=%s') return null;
  const file = state.files?.[args[1]!];
  return file ? ok(`${file.sizeBytes}\n`) : fail(1, `stat: cannot statx '${args[1]}': No such file or directory\n`);
}

export const detachedJobs: Capability<WithJobs> = {
  name: 'detached jobs (systemd-run)',
  commands: {
    'systemd-run': (state, args, ctx) => start(state, args, ctx),
    systemctl: (state, args) => show(state, args) ?? forget(state, args),
    tail: (state, args, ctx) => tail(state, args, ctx.now),
    stat: (state, args) => stat(state, args),
  },
  settle(state, now) {
    if (state.power !== 'down') settleJobs(state, now);
  },
  powerOff(state) {
    // The machine stops: its jobs die with it, their logs in /run too.
    delete state.jobs;
  },
  status: (state) => (state.jobs?.length || state.files ? {
    jobs: (state.jobs ?? []).map((j) => ({ unit: j.unit, kind: j.kind, copiedBytes: j.copiedBytes, totalBytes: j.totalBytes, exitStatus: j.exitStatus ?? null })),
    files: Object.keys(state.files ?? {}),
  } : {}),
};
