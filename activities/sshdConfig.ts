/**
 * A Ganeti hypervisor's preparation: its Unix group and the `Match group` block of its sshd_config. The block is
 * written once (a run that finds it does nothing), after a copy of the file; `sshd -t` checks the new file before
 * the reload, and a file it refuses is replaced by the copy at once. A member's `Match User` block goes in front of
 * the `Match group` one.
 */
import { sshdConfig, type Command } from '../common/commands.js';
import { failure } from '../common/failures.js';
import type { Outcome } from './raid/activities.js';
import type { RemoteShell } from './ssh/remote.js';

export function sshdConfigActivities(remote: RemoteShell) {
  const read = async (host: string) => (await remote.run(host, sshdConfig.read())).stdout;

  return {
    async readSshSetup(host: string, group: string, block: string): Promise<{ groupExists: boolean; blockPresent: boolean }> {
      const groupExists = (await remote.run(host, sshdConfig.groupExists(group), { allowFailure: true })).exitCode === 0;
      return { groupExists, blockPresent: (await read(host)).includes(block) };
    },

    /** `addgroup` unless `getent group` finds it. */
    async ensureGroup(host: string, group: string, command: Command): Promise<Outcome> {
      if ((await remote.run(host, sshdConfig.groupExists(group), { allowFailure: true })).exitCode === 0) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /**
     * The planned commands: the copy, the write (old file + block on stdin), the reload; `sshd -t` in between,
     * the copy put back if it refuses. A file that has the block already is checked and reloaded.
     */
    async addMatchBlock(host: string, block: string, commands: { backup: Command; write: Command; reload: Command; restore: Command }, before?: string): Promise<Outcome> {
      const current = await read(host);
      const checkOrRestore = async () => {
        const check = await remote.run(host, sshdConfig.check(), { allowFailure: true });
        if (check.exitCode === 0) return;
        await remote.run(host, commands.restore);
        throw failure('ConfigRefused', `sshd -t refused the new /etc/ssh/sshd_config on ${host}: ${check.stderr.trim()}; the previous file is back (ssh was not reloaded)`);
      };
      if (current.includes(block)) {
        // An attempt that wrote it may have died before its reload: reload the checked file (harmless if it was).
        await checkOrRestore();
        await remote.run(host, commands.reload);
        return 'already done';
      }
      // `before`: the block goes in front of that one (sshd keeps the first value it reads for a keyword).
      const at = before === undefined ? -1 : current.indexOf(before);
      if (before !== undefined && at < 0) throw failure('InvalidInput', `${host}'s sshd_config has no "${before.split('\n')[0]}" block to put the new one before: prepare the hypervisor first (ganetiHypervisorSetup)`);
      const next = at < 0 ? `${current.replace(/\n*$/, '\n')}\n${block}\n` : `${current.slice(0, at)}${block}\n${current.slice(at)}`;
      await remote.run(host, commands.backup);
      await remote.run(host, commands.write, { stdin: next });
      await checkOrRestore();
      await remote.run(host, commands.reload);
      return 'done';
    },
  };
}
