/**
 * Long remote commands as detached jobs on the host: a transient systemd unit per run and step, so that a command
 * of hours (`dd | bzip2`, a restore) outlives the SSH channel and the worker that started it. The unit is started
 * only if none of that name exists; its state, exit status and the tail of its stderr (dd's progress) are read
 * again at every poll, by whichever worker polls. Pure code, imported by workflows: what the plan shows is what runs.
 */
import { sh, type Command } from './shell.js';

/** The dd of a backup or restore, with its progress on stderr (the job's log). */
export const copies = {
  /** The page's backup: `dd if=SNAP bs=1M | bzip2 -9 > FILE`. */
  backup: (device: string, file: string) => sh`dd ${`if=${device}`} bs=1M status=progress | bzip2 -9 > ${file}`,
  /** The page's restore from a file: `bunzip2 -c FILE | dd of=LV bs=1M`. */
  restore: (file: string, device: string) => sh`bunzip2 -c ${file} | dd ${`of=${device}`} bs=1M status=progress`,
};

/**
 * A unit name from the run, the step and the person's retry number: systemd's characters only, at most 200 (the
 * name's limit is 255 with its suffix). `runbook-backup-dom0-a-1700000000000-dd-1`.
 */
export function jobUnit(workflowId: string, step: string, attempt = 1): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, '_');
  return `runbook-${clean(workflowId)}-${clean(step)}-${attempt}`.slice(0, 200);
}

/** The job's stderr, kept in /run (a tmpfs: writable on the page's read-only root, gone with the job at a reboot). */
export const jobLog = (unit: string) => `/run/${unit}.log`;

export type { Command };

export const jobs = {
  /**
   * Start `command` (a shell pipeline, run by sh -c) as the unit; it stays listed once it ended (remain-after-exit)
   * so that its exit status can be collected after a worker restart.
   */
  start: (unit: string, command: Command) =>
    // bash -o pipefail: without it a `dd | bzip2` whose dd fails ends with bzip2's 0 and an empty backup.
    sh`systemd-run ${`--unit=${unit}`} --remain-after-exit --quiet ${`--property=StandardError=file:${jobLog(unit)}`} -- bash -o pipefail -c ${command.text}`,
  state: (unit: string) => sh`systemctl show ${unit} --property=LoadState,ActiveState,SubState,Result,ExecMainStatus`,
  log: (unit: string) => sh`tail -c 4096 ${jobLog(unit)}`,
  /** Once collected: a finished unit is stopped (removed), a failed one reset. */
  stop: (unit: string) => sh`systemctl stop ${unit}`,
  resetFailed: (unit: string) => sh`systemctl reset-failed ${unit}`,
  /** A file's size, or exit 1 when there is none (a backup never overwrites one). */
  fileSize: (file: string) => sh`stat --format=%s ${file}`,
};
