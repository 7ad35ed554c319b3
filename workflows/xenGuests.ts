/**
 * The guests of a Xen dom0 around its reboot, "Ordre d'arrêt des VMs": stop them in batches from the dependency
 * graph of the inventory (clients, then public servers, then private servers, then the firewall), each batch with
 * a bound the page misses (`xl shutdown -w` waits forever), then start them again in the reverse order.
 */
import { msToNumber } from '@temporalio/common/lib/time.js';
import { sleep, workflowInfo } from '@temporalio/workflow';
import { xen } from '../common/commands.js';
import type { HypervisorRebootRequest } from '../common/inputs.js';
import { checkDependencies, DependencyError, shutdownBatches, type GuestDependencies } from '../common/shutdown-order.js';
import type { People } from './people.js';
import { hostChange, readOnly } from './proxies.js';
import type { GuestsOfHost } from './proxmoxGuests.js';
import { summarized, type Runbook } from './runbook.js';
import { failure } from '../common/failures.js';

export interface XenGuest extends GuestDependencies {
  config?: string;
}

const configOf = (guests: readonly XenGuest[], name: string) => guests.find((g) => g.name === name)?.config ?? `/etc/xen/${name}.cfg`;

export function xenDom0(host: string, request: HypervisorRebootRequest, runbook: Runbook, people: People, guests: readonly XenGuest[]): GuestsOfHost {
  // Refused before any SSH: a cycle leaves no safe order.
  try {
    checkDependencies(guests);
  } catch (error) {
    if (error instanceof DependencyError) throw failure('InvalidInput', `invalid input:\nguests of ${host} in the inventory: ${error.message}`);
    throw error;
  }
  let batches: string[][] = [];
  const record = new Map<string, Record<string, unknown>>();

  /** Wait, bounded, until none of `batch` runs; past the bound a person decides. */
  async function untilStopped(batch: string[], index: number): Promise<void> {
    for (;;) {
      const deadline = Date.now() + msToNumber(request.guestShutdownTimeout);
      let left: string[];
      for (;;) {
        const running = new Set((await summarized(readOnly.readDomains, `xl list on ${host}`)(host)).map((d) => d.name));
        left = batch.filter((name) => running.has(name));
        runbook.detail({ batch: `${index + 1} of ${batches.length}`, stopping: batch, stillRunning: left });
        if (!left.length) return;
        if (Date.now() >= deadline) break;
        await sleep(request.pollInterval, { summary: `waiting for ${left.join(', ')} to stop` });
      }
      await summarized(readOnly.mailAdmins, `mail the admins: guests of ${host} do not stop`)({
        subject: `${host}: guests do not stop`,
        text: `Guests of ${host} still run ${request.guestShutdownTimeout} after xl shutdown: ${left.join(', ')}.\nDecide with: npx runbook decide ${workflowInfo().workflowId} --decision retry|force|abort`,
        runbook: 'hypervisorReboot', workflowId: workflowInfo().workflowId,
      });
      const decision = await people.decide(`guests of ${host} still run after ${request.guestShutdownTimeout}: wait again (retry), xl destroy them (force), or stop the runbook (abort)`, 'an admin', ['retry', 'force', 'abort']);
      if (decision.decision === 'abort') {
        throw failure('Aborted', `aborted by ${decision.operator} while guests of ${host} were stopping${decision.comment ? `: ${decision.comment}` : ''}; stopped so far: ${[...record.keys()].join(', ') || 'none'}`);
      }
      if (decision.decision === 'force') {
        // destroyDomains skips a guest that stopped while the person decided.
        const outcomes = await summarized(hostChange.destroyDomains, `xl destroy ${left.join(', ')} on ${host}`)(host, left);
        left.filter((name) => outcomes[name] === 'done').forEach((name) => record.set(name, { ...record.get(name), destroyedBy: decision.operator }));
      }
    }
  }

  return {
    async preflight() {
      const domains = await summarized(readOnly.readDomains, `xl list on ${host}`)(host);
      batches = shutdownBatches(guests, domains.map((d) => d.name));
      const facts = { running: domains.map((d) => d.name), shutdownBatches: batches, startBatches: [...batches].reverse() };
      runbook.detail(facts);
      return facts;
    },

    drainSteps: () => batches.flatMap((batch, i) => batch.map((name) => ({
      host, stage: 'openssh' as const, command: xen.shutdown(name).text,
      why: `batch ${i + 1} of ${batches.length}${i ? `, after ${batches[i - 1]!.join(', ')} stopped` : ': nothing depends on it'}; at most ${request.guestShutdownTimeout}`,
    }))),

    async drain() {
      for (const [i, batch] of batches.entries()) {
        const outcomes = await summarized(hostChange.shutdownDomains, `xl shutdown ${batch.join(' ')} on ${host} (batch ${i + 1} of ${batches.length})`)(host, batch);
        await untilStopped(batch, i);
        batch.forEach((name) => record.set(name, { name, batch: i + 1, shutdown: outcomes[name], ...record.get(name), stoppedAt: new Date().toISOString() }));
      }
    },

    restoreSteps: () => [...batches].reverse().flatMap((batch) => batch.map((name) => ({
      host, stage: 'openssh' as const, command: xen.create(configOf(guests, name)).text, why: 'start again, dependencies first',
    }))),

    async restore() {
      for (const batch of [...batches].reverse()) {
        const outcomes = await summarized(hostChange.startDomains, `xl create ${batch.join(' ')} on ${host}`)(host, batch.map((name) => ({ name, config: configOf(guests, name) })));
        batch.forEach((name) => record.set(name, { ...record.get(name), started: outcomes[name] }));
      }
      const running = new Set((await summarized(readOnly.readDomains, `xl list on ${host}: every guest back?`)(host)).map((d) => d.name));
      const missing = batches.flat().filter((name) => !running.has(name));
      if (missing.length) throw failure('GuestsNotBack', `${host} is back but these guests do not run: ${missing.join(', ')}`);
      return [...record.values()];
    },
  };
}
