/**
 * Rebooting or powering off a host, and knowing when it is down and when it answers again.
 *
 * A reboot must not happen twice when an activity is retried: the kernel's boot id tells whether the host
 * already went through the reboot we asked for. Waiting is polling: one short probe per attempt, the retry
 * policy's backoff between attempts (durable server-side timers; no activity blocks for minutes).
 */
import { Context } from '@temporalio/activity';
import { power, type Command } from '../common/commands.js';
import type { BootStage } from '../common/inventory.js';
import type { RemoteShell } from './ssh/remote.js';
import { failure } from '../common/failures.js';


export function hostActivities(remote: RemoteShell) {
  /** The kernel's boot id: changes at every boot. */
  async function bootId(host: string, stage: BootStage = 'openssh'): Promise<string> {
    return (await remote.run(host, power.bootId(), { stage })).stdout.trim();
  }

  return {
    readBootId: (host: string): Promise<string> => bootId(host),

    /** `reboot` or `poweroff`, unless the host already left the boot we saw (a retried activity). */
    async sendPowerCommand(host: string, command: Command, bootIdBefore: string): Promise<'sent' | 'already down' | 'already rebooted'> {
      const probe = await remote.probe(host, 'openssh');
      if (probe !== 'up') return 'already down';
      if ((await bootId(host)) !== bootIdBefore) return 'already rebooted';
      // The connection may drop before the exit status arrives: that is the command working.
      const result = await remote.run(host, command, { allowFailure: true, timeoutMs: 15_000 }).catch(() => undefined);
      if (result && result.exitCode !== 0 && result.exitCode !== null) {
        throw failure('CommandFailed', `${command.text} on ${host} exited ${result.exitCode}: ${result.stderr.trim()}`);
      }
      return 'sent';
    },

    /** One probe: fails (and is retried by the policy) while the host still answers in the same boot. */
    async expectDown(host: string, bootIdBefore: string): Promise<void> {
      if ((await remote.probe(host, 'openssh')) !== 'up') return;
      // A fast reboot may have gone down and come back between two probes.
      const now = await bootId(host).catch(() => undefined);
      if (now === bootIdBefore) throw failure('StillUp', `${host} still answers`);
    },

    /** One probe: fails (and is retried) until the host answers in the expected stage, in a new boot. */
    async expectBack(host: string, stage: BootStage, bootIdBefore: string): Promise<string> {
      const probe = await remote.probe(host, stage);
      Context.current().heartbeat({ probe });
      if (probe !== 'up') throw failure('NotBack', `${host} does not answer on ${stage} yet`);
      const now = await bootId(host, stage);
      if (now === bootIdBefore) throw failure('NotBack', `${host} answers but has not rebooted yet`);
      return now;
    },
  };
}

export type HostActivities = ReturnType<typeof hostActivities>;
