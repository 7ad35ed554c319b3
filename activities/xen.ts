/**
 * The guests (domains) of a Xen dom0: `xl list`, `xl shutdown` without -w (the runbook bounds the wait itself),
 * `xl destroy` on a person's decision, `xl create` to start again. Each acts only on domains in the state it expects.
 */
import { xen, type Command } from '../common/commands.js';
import { parseXlList, type XlDomain } from './parsers/xl.js';
import type { Outcome } from './raid/activities.js';
import type { RemoteShell } from './ssh/remote.js';

export function xenActivities(remote: RemoteShell) {
  async function domains(host: string): Promise<XlDomain[]> {
    return parseXlList((await remote.run(host, xen.domains())).stdout).filter((d) => d.name !== 'Domain-0');
  }

  /**
   * Run `command` for each guest unless it is already where we want it (a retried activity finds the earlier
   * attempt's work done): `wantRunning` false acts only on running domains, true only on stopped ones.
   */
  async function each<T extends { name: string }>(host: string, guests: T[], wantRunning: boolean, command: (guest: T) => Command): Promise<Record<string, Outcome>> {
    const running = new Set((await domains(host)).map((d) => d.name));
    const outcomes: Record<string, Outcome> = {};
    for (const guest of guests) {
      if (running.has(guest.name) === wantRunning) { outcomes[guest.name] = 'already done'; continue; }
      await remote.run(host, command(guest));
      outcomes[guest.name] = 'done';
    }
    return outcomes;
  }
  const named = (names: string[]) => names.map((name) => ({ name }));

  return {
    readDomains: domains,

    /** Ask each running domain to shut down (one already shutting down takes the request again harmlessly). */
    shutdownDomains: (host: string, names: string[]) => each(host, named(names), false, (g) => xen.shutdown(g.name)),

    destroyDomains: (host: string, names: string[]) => each(host, named(names), false, (g) => xen.destroy(g.name)),

    startDomains: (host: string, guests: { name: string; config: string }[]) => each(host, guests, true, (g) => xen.create(g.config)),
  };
}
