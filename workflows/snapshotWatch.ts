/**
 * The fill watch of one LVM snapshot ("Snapshot d'une VM": a snapshot that fills up becomes invalid), a workflow of
 * its own so that vmSnapshot ends once the snapshot is made: vmSnapshot starts it (abandoned, it outlives its parent)
 * under an id named after the host and the snapshot, so a second start for the same snapshot finds it running.
 *
 * The fill is read every `fillPollInterval` (durable timers: a worker restart loses nothing); the admins are mailed
 * once past the threshold, and once more halfway from there to full, not at every poll. It ends when the snapshot is
 * gone (vmBackup's or vmRestore's lvremove, a merge, or by hand) or its time is over. Continues as new every
 * `pollsPerRun` polls (or when Temporal suggests it), carrying what it saw: a history bounded however long it lives.
 */
import { ActivityFailure, allHandlersFinished, condition, continueAsNew, sleep, workflowInfo } from '@temporalio/workflow';
import { SnapshotWatchInput } from '../common/inputs.js';
import { readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';

type Seen = NonNullable<SnapshotWatchInput['seen']>;

export interface SnapshotWatchResult {
  snapshot: string;
  /** The highest fill seen, the polls made, each mail sent (the level crossed, the fill then), why it ended. */
  highestPercent: number;
  polls: number;
  mailed: Seen['mailed'];
  ended: 'snapshot removed' | 'watch over';
}

const STEPS = ['watch the snapshot fill'] as const;

/** The watch of `snapshot` on `host`: one per snapshot. */
export const snapshotWatchId = (host: string, vg: string, snapshot: string): string => `snapshotWatch-${host}-${vg}-${snapshot}`;

/** The fills that mail the admins: the threshold, then halfway from it to full. */
export const fillLevels = (threshold: number): number[] => [threshold, Math.ceil((threshold + 100) / 2)];

export async function snapshotWatch(input: SnapshotWatchInput): Promise<SnapshotWatchResult> {
  const request = validInput(SnapshotWatchInput, input);
  const { host, guest, vg, volume, snapshot, fillThreshold, fillPollInterval, pollsPerRun } = request;
  const name = `${vg}/${snapshot}`;
  const until = Date.parse(request.until);
  const seen: Seen = request.seen ?? { highestPercent: 0, polls: 0, mailed: [] };
  const runbook = new Runbook('snapshotWatch', STEPS, host);
  const end = (ended: SnapshotWatchResult['ended']): SnapshotWatchResult => ({ snapshot: name, ...seen, ended });

  /** The fill now; null once the snapshot is gone; undefined when the dom0 could not be read (a reboot): looked at again at the next poll. */
  async function look(): Promise<number | null | undefined> {
    try {
      return await summarized(readOnly.readSnapshotFill, `lvs -o snap_percent ${name} on ${host} (still there?)`)(host, vg, snapshot);
    } catch (error) {
      if (!(error instanceof ActivityFailure)) throw error;
      runbook.detail({ snapshot: name, polls: seen.polls, lastError: error.cause?.message ?? error.message, until: request.until });
      return undefined;
    }
  }

  return runbook.step('watch the snapshot fill', async () => {
    for (let polls = 1; ; polls++) {
      const percent = await look();
      if (percent === null) return end('snapshot removed');
      if (percent !== undefined) {
        seen.polls += 1;
        seen.highestPercent = Math.max(seen.highestPercent, percent);
        runbook.detail({ snapshot: name, percent, polls: seen.polls, levels: fillLevels(fillThreshold), mailed: seen.mailed, until: request.until });
        const crossed = fillLevels(fillThreshold).filter((level) => percent >= level && !seen.mailed.some((m) => m.level === level));
        if (crossed.length) {
          await summarized(readOnly.mailAdmins, `mail the admins: ${name} on ${host} is ${percent}% full`)({
            subject: `${host}: snapshot ${name} is ${percent}% full`,
            text: `The snapshot ${name} of ${guest}'s ${volume} on ${host} is ${percent}% full (mailed at ${fillLevels(fillThreshold).join('% and ')}%). At 100% it becomes invalid and is lost.\n\nBack it up now (vm-backup) and remove it (lvremove), or merge it back (vm-restore).`,
            runbook: 'snapshotWatch', workflowId: workflowInfo().workflowId,
          });
          seen.mailed.push(...crossed.map((level) => ({ level, percent })));
        }
      }
      if (Date.now() >= until) return end('watch over');
      const now = percent === undefined ? 'could not be read' : `is ${percent}% full`;
      await sleep(fillPollInterval, { summary: `${name} ${now}: next look in ${String(fillPollInterval)}` });
      if (polls >= pollsPerRun || workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        return continueAsNew<typeof snapshotWatch>({ ...input, seen });
      }
    }
  });
}
