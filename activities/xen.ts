/**
 * The guests (domains) of a Xen dom0: `xl list`, `xl shutdown` without -w (the runbook bounds the wait itself),
 * `xl destroy` on a person's decision, `xl create` to start again. Each acts only on domains in the state it expects.
 */
import { xen } from '../common/commands.js';
import { parseXlList, type XlDomain } from './parsers/xl.js';
import type { Outcome } from './raid/activities.js';
import type { RemoteShell } from './ssh/remote.js';

export function xenActivities(remote: RemoteShell) {
  async function domains(host: string): Promise<XlDomain[]> {
    return parseXlList((await remote.run(host, xen.domains())).stdout).filter((d) => d.name !== 'Domain-0');
  }

  return {
    readDomains: domains,

    /** Ask each running domain to shut down; one already gone is "already done". */
    async shutdownDomains(host: string, names: string[]): Promise<Record<string, Outcome>> {
      const running = new Set((await domains(host)).map((d) => d.name));
      const outcomes: Record<string, Outcome> = {};
      for (const name of names) {
        if (!running.has(name)) { outcomes[name] = 'already done'; continue; }
        // A domain already shutting down takes the request again harmlessly.
        await remote.run(host, xen.shutdown(name));
        outcomes[name] = 'done';
      }
      return outcomes;
    },

    async destroyDomains(host: string, names: string[]): Promise<Record<string, Outcome>> {
      const running = new Set((await domains(host)).map((d) => d.name));
      const outcomes: Record<string, Outcome> = {};
      for (const name of names) {
        if (!running.has(name)) { outcomes[name] = 'already done'; continue; }
        await remote.run(host, xen.destroy(name));
        outcomes[name] = 'done';
      }
      return outcomes;
    },

    async startDomains(host: string, guests: { name: string; config: string }[]): Promise<Record<string, Outcome>> {
      const running = new Set((await domains(host)).map((d) => d.name));
      const outcomes: Record<string, Outcome> = {};
      for (const guest of guests) {
        if (running.has(guest.name)) { outcomes[guest.name] = 'already done'; continue; }
        await remote.run(host, xen.create(guest.config));
        outcomes[guest.name] = 'done';
      }
      return outcomes;
    },
  };
}
