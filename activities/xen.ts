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
    // A dying domain whose name xl can no longer read is listed as (null): no guest of ours to stop or start.
    return parseXlList((await remote.run(host, xen.domains())).stdout).filter((d) => d.name !== 'Domain-0' && !d.nameUnknown);
  }

  /**
   * Run the planned `command` unless the guest is already where we want it (a retried activity finds the earlier
   * attempt's work done): `wantRunning` false acts only on a running domain, true only on a stopped one.
   */
  async function unless(host: string, name: string, wantRunning: boolean, command: Command): Promise<Outcome> {
    const running = (await domains(host)).some((d) => d.name === name);
    if (running === wantRunning) return 'already done';
    await remote.run(host, command);
    return 'done';
  }

  return {
    readDomains: domains,

    /** `xl shutdown` a running domain (one already shutting down takes the request again harmlessly). */
    shutdownDomain: (host: string, name: string, command: Command) => unless(host, name, false, command),

    destroyDomain: (host: string, name: string, command: Command) => unless(host, name, false, command),

    /** `xl create` of a stopped domain's config. */
    startDomain: (host: string, name: string, command: Command) => unless(host, name, true, command),
  };
}
