/**
 * The guests of a Xen dom0 around its reboot, "Ordre d'arrêt des VMs": stop them in batches from the dependency
 * graph of the inventory (clients, then public servers, then private servers, then the firewall), each batch with
 * a bound the page misses (`xl shutdown -w` waits forever), then start them again in the reverse order. The
 * batches become host steps once: the plan and the run walk the same ones.
 */
import { msToNumber } from '@temporalio/common/lib/time.js';
import { sleep } from '@temporalio/workflow';
import { xen } from '../common/commands.js';
import { failure } from '../common/failures.js';
import type { HypervisorRebootRequest } from '../common/inputs.js';
import { checkDependencies, DependencyError, shutdownBatches, type GuestDependencies } from '../common/shutdown-order.js';
import type { People } from './people.js';
import type { GuestsOfHost, GuestStep } from './proxmoxGuests.js';
import { hostChange, readOnly } from './proxies.js';
import { summarized, type Runbook } from './runbook.js';
import { persist, runStep } from './steps.js';

export interface XenGuest extends GuestDependencies {
  config?: string;
}

const configOf = (guests: readonly XenGuest[], name: string) => guests.find((g) => g.name === name)?.config ?? `/etc/xen/${name}.cfg`;

/** `only`: these guests, not every guest of the host (a disk resize stops one guest; the others keep running). */
export function xenDom0(
  host: string, request: Pick<HypervisorRebootRequest, 'guestShutdownTimeout' | 'pollInterval'>, runbook: Runbook, people: People,
  guests: readonly XenGuest[], doneSoFar: () => string, only?: readonly string[],
): GuestsOfHost {
  // Refused before any SSH: a cycle leaves no safe order.
  try {
    checkDependencies(guests);
  } catch (error) {
    if (error instanceof DependencyError) throw failure('InvalidInput', `invalid input:\nguests of ${host} in the inventory: ${error.message}`);
    throw error;
  }
  let batches: string[][] = [];
  const drainSteps: GuestStep[] = [];
  const drainBatches: GuestStep[][] = [];
  const restoreSteps: GuestStep[] = [];
  const record = new Map<string, Record<string, unknown>>();
  const noted = (name: string, facts: Record<string, unknown>) => record.set(name, { ...record.get(name), ...facts });
  const readDomains = async (why: string) => new Set((await summarized(readOnly.readDomains, `xl list on ${host}${why}`)(host)).map((d) => d.name));

  /** Wait, bounded, until none of `batch` runs; past the bound a person decides. */
  async function untilStopped(batch: string[], index: number): Promise<void> {
    for (;;) {
      const deadline = Date.now() + msToNumber(request.guestShutdownTimeout);
      let left: string[];
      for (;;) {
        const running = await readDomains('');
        left = batch.filter((name) => running.has(name));
        runbook.detail({ batch: `${index + 1} of ${batches.length}`, stopping: batch, stillRunning: left });
        if (!left.length) return;
        if (Date.now() >= deadline) break;
        await sleep(request.pollInterval, { summary: `waiting for ${left.join(', ')} to stop` });
      }
      const decision = await people.escalate({
        subject: `${host}: guests do not stop`,
        text: `Guests of ${host} still run ${request.guestShutdownTimeout} after xl shutdown: ${left.join(', ')}.\n\nretry: wait again; force: xl destroy them; abort: stop the runbook.`,
        what: `guests of ${host} still run after ${request.guestShutdownTimeout}: wait again (retry), xl destroy them (force), or stop the runbook (abort)`,
        choices: ['retry', 'force', 'abort'],
      }, `xl shutdown of ${left.join(', ')} on ${host}`, `still running after ${request.guestShutdownTimeout}`);
      if (decision.decision === 'abort') {
        throw failure('Aborted', `aborted by ${decision.by} while guests of ${host} were stopping${decision.comment ? `: ${decision.comment}` : ''}; stopped so far: ${[...record.keys()].join(', ') || 'none'}`);
      }
      if (decision.decision === 'force') {
        // destroyDomain skips a guest that stopped while the person decided.
        for (const name of left) {
          const outcome = await summarized(hostChange.destroyDomain, `xl destroy ${name} on ${host}`)(host, name, xen.destroy(name));
          if (outcome === 'done') noted(name, { destroyedBy: decision.by });
        }
      }
    }
  }

  return {
    drainSteps,
    restoreSteps,

    async preflight() {
      const domains = await summarized(readOnly.readDomains, `xl list on ${host}`)(host);
      batches = shutdownBatches(guests, domains.map((d) => d.name).filter((name) => !only || only.includes(name)));
      for (const [i, batch] of batches.entries()) {
        drainBatches.push(batch.map((name) => ({
            host, stage: 'openssh', command: xen.shutdown(name),
            why: `batch ${i + 1} of ${batches.length}${i ? `, after ${batches[i - 1]!.join(', ')} stopped` : ': nothing depends on it'}; at most ${request.guestShutdownTimeout}`,
            run: (command) => summarized(hostChange.shutdownDomain, `xl shutdown ${name} on ${host} (batch ${i + 1} of ${batches.length})`)(host, name, command),
            note: (outcome) => noted(name, { name, batch: i + 1, shutdown: outcome }),
        })));
      }
      drainSteps.push(...drainBatches.flat());
      for (const batch of [...batches].reverse()) {
        for (const name of batch) {
          restoreSteps.push({
            host, stage: 'openssh', command: xen.create(configOf(guests, name)), why: 'start again, dependencies first',
            run: (command) => summarized(hostChange.startDomain, `xl create ${name} on ${host}`)(host, name, command),
            note: (outcome) => noted(name, { started: outcome }),
          });
        }
      }
      const facts = { running: domains.map((d) => d.name), shutdownBatches: batches, startBatches: [...batches].reverse() };
      runbook.detail(facts);
      return facts;
    },

    doneSoFar: () => [...record.entries()].filter(([, r]) => r.shutdown || r.destroyedBy).map(([name, r]) =>
      `${name} ${r.destroyedBy ? `destroyed (${String(r.destroyedBy)})` : 'shut down'}${r.started ? ', started again' : ''}`),

    async drain() {
      for (const [i, batch] of batches.entries()) {
        for (const step of drainBatches[i]!) {
          step.note?.(await runStep(people, step, doneSoFar));
        }
        await untilStopped(batch, i);
        batch.forEach((name) => noted(name, { stoppedAt: new Date().toISOString() }));
      }
    },

    async restore() {
      for (const step of restoreSteps) step.note?.(await runStep(people, step, doneSoFar));
      await persist(people, { host, title: 'every guest runs again (xl list)', doneSoFar }, async () => {
        const running = await readDomains(': every guest back?');
        const missing = batches.flat().filter((name) => !running.has(name));
        if (missing.length) throw failure('GuestsNotBack', `${host} is back but these guests do not run: ${missing.join(', ')}`);
      });
      return [...record.values()];
    },
  };
}

/**
 * The dom0's guests as the inventory lists them, for a runbook about one of them (resize, snapshot, restore):
 * refused, nothing changed, when the host is no Xen dom0 or does not list that guest.
 */
export async function guestsOfDom0(host: string, guest: string, runbook: string): Promise<XenGuest[]> {
  const found = await summarized(readOnly.lookUpHost, `look up ${host} in the inventory`)(host);
  if (found.kind !== 'xen-dom0') throw failure('InvalidInput', `invalid input:\nhost: ${host} is a ${found.kind}; ${runbook} knows Xen dom0s`);
  const guests = found.guests ?? [];
  if (!guests.some((g) => g.name === guest)) {
    throw failure('InvalidInput', `invalid input:\nguest: ${guest} is not a guest of ${host} in the inventory (${guests.map((g) => g.name).join(', ') || 'none'})`);
  }
  return guests;
}
