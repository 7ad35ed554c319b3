/**
 * The guests of a Proxmox node around its reboot: "Migration de VMs et redémarrage des containers sur un autre
 * hyperviseur", "Arrêt VM non migrables", and after the reboot "Validation retour de l'hyperviseur, migration
 * retour éventuelle des VMs". The plan is computed once (common/drain-plan.ts), shown for approval, then run.
 */
import { proxmox } from '../common/commands.js';
import { DEFAULT_RULES, gib, planDrain, type DrainPlan, type GuestMove } from '../common/drain-plan.js';
import type { HypervisorRebootRequest } from '../common/inputs.js';
import type { Plan } from './messages.js';
import { hostChange, polling, readOnly } from './proxies.js';
import { summarized, type Runbook } from './runbook.js';
import { failure } from '../common/failures.js';

/** What a hypervisor kind does with its guests around the reboot. */
export interface GuestsOfHost {
  /** Read-only checks; throws `Refused` with the numbers when the reboot must not go ahead. Returns the facts shown with the plan. */
  preflight(): Promise<Record<string, unknown>>;
  drainSteps(): Plan['steps'];
  drain(): Promise<void>;
  restoreSteps(): Plan['steps'];
  /** Validate the host is back, bring the guests back; returns where every guest ended. */
  restore(): Promise<Record<string, unknown>[]>;
}

const SHUTDOWN_SECONDS = 180;

/** The command that moves or stops one guest of `host`, as the plan shows it and the drain runs it. */
export function drainStep(host: string, m: GuestMove, why = m.why): Plan['steps'][number] {
  const command = m.action === 'shut down' ? proxmox.shutdown(m.type, m.vmid, SHUTDOWN_SECONDS) : proxmox.migrate(m.type, m.vmid, m.to!);
  return { host, stage: 'openssh', command: command.text, why };
}

export function proxmoxNode(host: string, request: HypervisorRebootRequest, runbook: Runbook): GuestsOfHost {
  let plan: DrainPlan | undefined;
  const moves = (): GuestMove[] => plan?.moves ?? [];
  const label = (m: GuestMove) => `${m.type === 'lxc' ? 'container' : 'VM'} ${m.vmid} (${m.name})`;
  const record = new Map<number, Record<string, unknown>>();

  return {
    async preflight() {
      const facts = await summarized(readOnly.readClusterFacts, `pvecm status, pvesh: the cluster as ${host} sees it`)(host);
      plan = planDrain(facts, host, { ...DEFAULT_RULES, afterUpgrade: request.afterUpgrade });
      const numbers = {
        quorate: facts.quorate,
        runningGuests: `${gib(plan.runningMemBytes)} of ${gib(plan.clusterMemBytes)} cluster RAM`,
        otherNodesAfterDrain: plan.loads.map((l) => `${l.node}: ${gib(l.allocatedMemBytes)} of ${gib(l.memBytes)} RAM, ${l.allocatedCpus} vCPU on ${l.cpus} cores`),
        bootFreeMB: Math.round(facts.bootFreeBytes / 1024 ** 2),
        moves: plan.moves.map((m) => `${label(m)}: ${m.action}${m.to ? ` to ${m.to}` : ''} (${m.why})`),
      };
      runbook.detail(numbers);
      if (plan.refusals.length) {
        throw failure('Refused', `refused to reboot ${host}:\n- ${plan.refusals.join('\n- ')}`, numbers);
      }
      return numbers;
    },

    drainSteps: () => moves().map((m) => drainStep(host, m)),

    async drain() {
      for (const m of moves()) {
        runbook.detail({ guest: label(m), action: m.action, to: m.to });
        const outcome = m.action === 'shut down'
          ? await summarized(hostChange.shutdownGuest, `shut down ${label(m)} on ${host}`)({ node: host, vmid: m.vmid, type: m.type, timeoutSeconds: SHUTDOWN_SECONDS })
          : await summarized(hostChange.migrateGuest, `${m.action} ${label(m)} from ${host} to ${m.to}`)({ vmid: m.vmid, type: m.type, from: host, to: m.to! });
        record.set(m.vmid, { vmid: m.vmid, name: m.name, type: m.type, action: m.action, went: m.to ?? 'stopped on ' + host, outcome });
      }
    },

    restoreSteps: () => [
      { host, stage: 'openssh' as const, command: proxmox.quorum().text, why: 'the cluster is quorate again' },
      { host, stage: 'openssh' as const, command: proxmox.storageStatus().text, why: 'every storage of the node is active' },
      ...moves().filter((m) => m.action === 'shut down').map((m) => ({ host, stage: 'openssh' as const, command: proxmox.start(m.type, m.vmid).text, why: `start ${label(m)} again` })),
      ...(request.migrateBack ? moves().filter((m) => m.to).map((m) => ({ host: m.to!, stage: 'openssh' as const, command: proxmox.migrate(m.type, m.vmid, host).text, why: `bring ${label(m)} back` })) : []),
    ],

    async restore() {
      const wait = polling(request.pollInterval, request.upTimeout);
      await summarized(wait.expectQuorate, `wait until the cluster is quorate with ${host}`)(host);
      await summarized(wait.expectStoragesActive, `wait until every storage of ${host} is active`)(host);
      for (const m of moves().filter((x) => x.action === 'shut down')) {
        const outcome = await summarized(hostChange.startGuest, `start ${label(m)} on ${host}`)({ node: host, vmid: m.vmid, type: m.type });
        record.set(m.vmid, { ...record.get(m.vmid), ended: host, started: outcome });
      }
      for (const m of moves().filter((x) => x.to)) {
        if (!request.migrateBack) {
          record.set(m.vmid, { ...record.get(m.vmid), ended: m.to });
          continue;
        }
        const outcome = await summarized(hostChange.migrateGuest, `bring ${label(m)} back from ${m.to} to ${host}`)({ vmid: m.vmid, type: m.type, from: m.to!, to: host });
        record.set(m.vmid, { ...record.get(m.vmid), ended: host, back: outcome });
      }
      return [...record.values()];
    },
  };
}
