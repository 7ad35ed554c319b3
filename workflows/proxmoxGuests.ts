/**
 * The guests of a Proxmox node around its reboot: "Migration de VMs et redémarrage des containers sur un autre
 * hyperviseur", "Arrêt VM non migrables", and after the reboot "Validation retour de l'hyperviseur, migration
 * retour éventuelle des VMs". The moves are computed once (common/drain-plan.ts) and turned into host steps once:
 * the plan shown for approval and the drain and restore walk those same steps.
 */
import { proxmox } from '../common/commands.js';
import { DEFAULT_RULES, gib, planDrain, type GuestMove } from '../common/drain-plan.js';
import { failure } from '../common/failures.js';
import type { HypervisorRebootRequest } from '../common/inputs.js';
import type { People } from './people.js';
import { hostChange, polling, readOnly } from './proxies.js';
import { summarized, type Runbook } from './runbook.js';
import { persist, runStep, type HostStep } from './steps.js';
import type { Outcome } from '../activities/raid/activities.js';

/** A host step that moves, stops or starts one guest, and notes what it did in the guest's record. */
export type GuestStep = HostStep<Outcome> & { note?: (outcome: unknown) => void };

/** What a hypervisor kind does with its guests around the reboot. */
export interface GuestsOfHost {
  /** Read-only checks; throws `Refused` with the numbers when the reboot must not go ahead. Returns the facts shown with the plan. */
  preflight(): Promise<Record<string, unknown>>;
  /** The steps that move or stop the guests, known once the preflight ran. */
  readonly drainSteps: GuestStep[];
  drain(): Promise<void>;
  /** The steps that bring the guests back. */
  readonly restoreSteps: GuestStep[];
  /** Validate the host is back, bring the guests back; returns where every guest ended. */
  restore(): Promise<Record<string, unknown>[]>;
  /** What was done to the guests so far, for people (an escalation's mail, an abort's message). */
  doneSoFar(): string[];
}

const SHUTDOWN_SECONDS = 180;
const label = (m: GuestMove) => `${m.type === 'lxc' ? 'container' : 'VM'} ${m.vmid} (${m.name})`;

/** The step that moves or stops one guest of `host`: what the plan shows and what the drain runs. */
export function drainStep(host: string, m: GuestMove, why = m.why): GuestStep {
  if (m.action === 'shut down') {
    return {
      host, stage: 'openssh', command: proxmox.shutdown(m.type, m.vmid, SHUTDOWN_SECONDS), why,
      run: (command) => summarized(hostChange.shutdownGuest, `shut down ${label(m)} on ${host}`)({ node: host, vmid: m.vmid, type: m.type, timeoutSeconds: SHUTDOWN_SECONDS }, command),
    };
  }
  return {
    host, stage: 'openssh', command: proxmox.migrate(m.type, m.vmid, m.to!), why,
    run: (command) => summarized(hostChange.migrateGuest, `${m.action} ${label(m)} from ${host} to ${m.to}`)({ vmid: m.vmid, type: m.type, from: host, to: m.to! }, command),
  };
}

export function proxmoxNode(host: string, request: Pick<HypervisorRebootRequest, 'afterUpgrade' | 'migrateBack' | 'pollInterval' | 'upTimeout'>, runbook: Runbook, people: People, doneSoFar: () => string): GuestsOfHost {
  const record = new Map<number, Record<string, unknown>>();
  const noted = (vmid: number, facts: Record<string, unknown>) => record.set(vmid, { ...record.get(vmid), ...facts });
  const drainSteps: GuestStep[] = [];
  const restoreSteps: GuestStep[] = [];

  /** The moves become steps once: the plan and the run walk these. */
  function buildSteps(moves: GuestMove[]): void {
    for (const m of moves) {
      drainSteps.push({
        ...drainStep(host, m),
        note: (outcome) => noted(m.vmid, { vmid: m.vmid, name: m.name, type: m.type, action: m.action, went: m.to ?? `stopped on ${host}`, outcome }),
      });
    }
    for (const m of moves.filter((x) => x.action === 'shut down')) {
      restoreSteps.push({
        host, stage: 'openssh', command: proxmox.start(m.type, m.vmid), why: `start ${label(m)} again`,
        run: (command) => summarized(hostChange.startGuest, `start ${label(m)} on ${host}`)({ node: host, vmid: m.vmid, type: m.type }, command),
        note: (outcome) => noted(m.vmid, { ended: host, started: outcome }),
      });
    }
    for (const m of moves.filter((x) => x.to)) {
      if (!request.migrateBack) {
        noted(m.vmid, { ended: m.to });
        continue;
      }
      restoreSteps.push({
        host: m.to!, stage: 'openssh', command: proxmox.migrate(m.type, m.vmid, host), why: `bring ${label(m)} back`,
        run: (command) => summarized(hostChange.migrateGuest, `bring ${label(m)} back from ${m.to} to ${host}`)({ vmid: m.vmid, type: m.type, from: m.to!, to: host }, command),
        note: (outcome) => noted(m.vmid, { ended: host, back: outcome }),
      });
    }
  }

  async function walk(steps: GuestStep[]): Promise<void> {
    for (const step of steps) {
      runbook.detail({ now: step.command.text, why: step.why });
      step.note?.(await runStep(people, step, doneSoFar));
    }
  }

  return {
    drainSteps,
    restoreSteps,

    async preflight() {
      const facts = await summarized(readOnly.readClusterFacts, `pvecm status, pvesh: the cluster as ${host} sees it`)(host);
      const plan = planDrain(facts, host, { ...DEFAULT_RULES, afterUpgrade: request.afterUpgrade });
      const numbers = {
        quorate: facts.quorate,
        runningGuests: `${gib(plan.runningMemBytes)} of ${gib(plan.clusterMemBytes)} cluster RAM`,
        otherNodesAfterDrain: plan.loads.map((l) => `${l.node}: ${gib(l.allocatedMemBytes)} of ${gib(l.memBytes)} RAM, ${l.allocatedCpus} vCPU on ${l.cpus} cores`),
        bootFreeMB: Math.round(facts.bootFreeBytes / 1024 ** 2),
        moves: plan.moves.map((m) => `${label(m)}: ${m.action}${m.to ? ` to ${m.to}` : ''} (${m.why})`),
      };
      runbook.detail(numbers);
      if (plan.refusals.length) throw failure('Refused', `refused to reboot ${host}:\n- ${plan.refusals.join('\n- ')}`, numbers);
      buildSteps(plan.moves);
      return numbers;
    },

    drain: () => walk(drainSteps),

    doneSoFar: () => [...record.values()].filter((r) => r.outcome).map((r) =>
      `${r.type === 'lxc' ? 'container' : 'VM'} ${r.vmid} ${r.action === 'shut down' ? 'shut down' : `moved to ${r.went}`}${r.started ? ', started again' : ''}${r.back ? ', moved back' : ''}`),

    async restore() {
      const wait = polling(request.pollInterval, request.upTimeout);
      await persist(people, { host, title: 'the cluster is quorate again (pvecm status)', doneSoFar }, () =>
        summarized(wait.expectQuorate, `wait until the cluster is quorate with ${host}`)(host));
      await persist(people, { host, title: 'every storage is active (pvesm status)', doneSoFar }, () =>
        summarized(wait.expectStoragesActive, `wait until every storage of ${host} is active`)(host));
      await walk(restoreSteps);
      return [...record.values()];
    },
  };
}
