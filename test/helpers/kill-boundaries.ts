/**
 * The systematic kill test (issue 13): every runbook, run once, with a worker (test/setup/fault-worker.mjs) that
 * SIGKILLs itself once at each activity boundary it meets (scheduled, started, completed) and is restarted at once;
 * each run must complete, and each host must show the commands of the approved plans, each once, in order.
 *
 * A killed attempt is only retried once its heartbeat timeout (15 s) passes, so dying at every boundary of every
 * runbook takes over an hour (luksKeyRotation: 15 deaths, 6 min; hot disk replacement: 36 deaths, 15 min; both
 * passed): `RUNBOOK_KILL_TEST=all` does that, by hand.
 * By default (npm test) the worker dies once per runbook, at a host change: just after the first one completed (the
 * change made, the result not yet reported), or for the longer runs as the first one is scheduled (see
 * Scenario.kills). The scenarios are in two files of their own labs, which npm test runs side by side: the Proxmox
 * cluster's (test/kill-boundaries-proxmox.test.ts) and the other hosts' (test/kill-boundaries.test.ts).
 * A runbook joins with one line in a file's scenarios. Real dev server, real lab.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sealSecret, type SealingKey } from '../../common/sealing.js';
import { proxmoxPassphrase, type ProxmoxNodeState } from '../../lab/hosts/proxmox-node.js';
import { Lab, type LabOptions } from '../../lab/lab.js';
import { approveUpdate, diskReplacedUpdate, type Plan } from '../../workflows/messages.js';
import { answer, answerPassphrases, asked, auditMark, auditSince, child, planOfRun } from './drive.js';
import { changesByHost, codecClient, eventually, planByHost, tempDir } from './runbooks.js';
import { writeTestCodecKey, writeTestSealingKey } from '../setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from '../setup/worker-process.js';

const address = inject('temporalAddress');
const ALL = process.env.RUNBOOK_KILL_TEST === 'all';
/** The activities that change a host (each guarded: it checks first), where the default run dies. */
const HOST_CHANGING = 'markMemberFailed|removeMember|clonePartitionTable|addMember|installBootloader|sendPowerCommand|migrateGuest|shutdownGuest|startGuest|shutdownDomain|destroyDomain|startDomain|activateVolumeGroups|addKey|removeKey|remountRoot|changeVolume|startJob|changeVmSnapshot|ensureGroup|addMatchBlock';
/**
 * Never killed in (yet): the passphrase tries run once (a retry would spend a host try unseen), so a crash in one
 * fails the run until the passphrase rework (issue 13, item 1) follows it with a look at the host. Then drop this.
 */
const PASSPHRASE_TRIES = 'unlockRoot|openVolume|testPassphrase|checkNewPassphrase';
const FAULTS = { FAULT_ACTIVITIES: ALL ? `^(?!(${PASSPHRASE_TRIES})$)` : `^(${HOST_CHANGING})$` };
/** How long a run may take to reach a question: every boundary killed costs up to 15 s. */
const WAIT = ALL ? 3 * 3600_000 : 240_000;
const slowPolls = { pollInterval: '1s', upTimeout: '10 minutes', downTimeout: '10 minutes', guestShutdownTimeout: '2 minutes' };

interface Ctx {
  client: Client;
  lab: Lab;
  seal(passphrase: string): unknown;
}

export interface Scenario {
  name: string;
  /**
   * Where the worker dies by default (RUNBOOK_KILL_TEST=all: everywhere): `completed:1` once after the first host
   * change made (about 15 s: the heartbeat timeout), `scheduled:1` once as the first one is scheduled (about 10 s: the
   * workflow task timeout), for the longer runs.
   */
  kills: 'completed:1' | 'scheduled:1';
  /** The hosts whose audits are checked against the plans. */
  hosts: string[];
  /** Starts the run, plays its people until it ends; returns the plans of what ran (the run's and its children's). */
  run(ctx: Ctx, start: (type: string, input: Record<string, unknown>) => Promise<WorkflowHandle>): Promise<Plan[]>;
}

export const FMA = ['kp1', 'kp2', 'kp3'];
const rightPassphrase = (host: string) => (what: string): string =>
  proxmoxPassphrase({}, what.includes('system disk') || what.includes('CURRENT') ? 'root' : what.includes('vg_fma_luks') ? 'shared' : 'local', host);

/** A disk replacement: the disk swapped when asked (the host powered on again by hand for a cold swap). */
export function disk(name: string, host: string, swap: 'hot' | 'cold', slot: number, kills: Scenario['kills']): Scenario {
  return {
    name, hosts: [host], kills,
    async run({ client, lab }, start) {
      const handle = await start('diskReplacement', { host, swap, resyncPollInterval: '1s', bootTimeout: '10 minutes' });
      if (swap === 'cold') {
        await eventually(`${host} powered off`, () => lab.stage(host) === 'down' || undefined, WAIT);
        lab.swapDisk(host, slot, { serial: `ZK${host}` });
        await lab.powerOn(host);
      } else {
        await asked(handle, diskReplacedUpdate.name, WAIT);
        lab.swapDisk(host, slot, { serial: `ZK${host}` });
      }
      if (await asked(handle, diskReplacedUpdate.name, WAIT)) await answer(handle, diskReplacedUpdate, { by: 'sam' }, WAIT);
      await handle.result();
      return swap === 'cold' ? [await planOfRun(await child(client, `${handle.workflowId}-poweroff`, WAIT)), await planOfRun(handle)] : [await planOfRun(handle)];
    },
  };
}

/** A planned hypervisor reboot: approved, every passphrase given right. */
export function reboot(name: string, host: string, kills: Scenario['kills']): Scenario {
  return {
    name, hosts: host.startsWith('kp') ? FMA : [host], kills,
    async run({ seal }, start) {
      const handle = await start('hypervisorReboot', { host, reason: 'kill test', ...slowPolls });
      if (await asked(handle, approveUpdate.name, WAIT)) await answer(handle, approveUpdate, { by: 'alice' }, WAIT);
      await answerPassphrases(handle, (what) => seal(rightPassphrase(host)(what)), WAIT);
      await handle.result();
      return [await planOfRun(handle)];
    },
  };
}

/** A rolling reboot of the fma cluster: approved once, each node's passphrases given to its child. */
export function roll(name: string, kills: Scenario['kills']): Scenario {
  return {
    name, hosts: FMA, kills,
    async run({ client, seal }, start) {
      const handle = await start('rollingClusterReboot', { cluster: 'kfma', reason: 'kill test', ...slowPolls });
      if (await asked(handle, approveUpdate.name, WAIT)) await answer(handle, approveUpdate, { by: 'alice' }, WAIT);
      const plans: Plan[] = [];
      for (const node of FMA) {
        const c = await child(client, `${handle.workflowId}-${node}`, WAIT);
        await answerPassphrases(c, (what) => seal(rightPassphrase(node)(what)), WAIT);
        plans.push(await planOfRun(c));
      }
      await handle.result();
      return plans;
    },
  };
}

/** A LUKS key rotation: the current passphrase, then a new one. */
export function rotate(name: string, host: string, kills: Scenario['kills']): Scenario {
  return {
    name, hosts: [host], kills,
    async run({ seal }, start) {
      const handle = await start('luksKeyRotation', { host });
      await answerPassphrases(handle, (what) => seal(what.includes('CURRENT') ? rightPassphrase(host)(what) : `the rotated root passphrase of ${host}`), WAIT);
      await handle.result();
      return [await planOfRun(handle)];
    },
  };
}

/** A runbook that asks one approval, then runs to its end by itself (the LVM runbooks). */
export function approved(name: string, type: string, host: string, input: Record<string, unknown>, kills: Scenario['kills']): Scenario {
  return {
    name, hosts: [host], kills,
    async run(_ctx, start) {
      const handle = await start(type, { host, ...input });
      if (await asked(handle, approveUpdate.name, WAIT)) await answer(handle, approveUpdate, { by: 'alice' }, WAIT);
      await handle.result();
      return [await planOfRun(handle)];
    },
  };
}

/** A Proxmox snapshot of VM 2010 (on lvmthin_luks_local), on the fma node that runs it now. */
export function pveSnapshot(name: string, action: 'snapshot' | 'rollback', kills: Scenario['kills']): Scenario {
  return {
    name, hosts: FMA, kills,
    run(ctx, start) {
      const host = FMA.find((n) => ctx.lab.state<ProxmoxNodeState>(n).guests.some((g) => g.vmid === 2010))!;
      return approved(name, 'proxmoxSnapshot', host, { vmid: 2010, action, name: 'kill-test' }, kills).run(ctx, start);
    },
  };
}

export const lvmPolls = { pollInterval: '1s', guestShutdownTimeout: '2 minutes' };

/** A file's lab (its own loopback subnet) and the task queue of its fault worker. */
export interface KillLab {
  taskQueue: string;
  subnet: number;
  hosts: LabOptions['hosts'];
  clusters?: LabOptions['clusters'];
}

/** Registers the file's lab, its fault worker (restarted at once whenever it dies) and one test per scenario, in order. */
export function killBoundaries(spec: KillLab, scenarios: Scenario[]): void {
  let dir: string;
  let lab: Lab;
  let client: Client;
  let codecKeyFile: string;
  let sealingKey: SealingKey;
  let worker: WorkerProcess | undefined;
  let ledger: string;
  let stopping = false;
  let supervisor: Promise<void> = Promise.resolve();

  function startFaultWorker(bundle: string): Promise<WorkerProcess> {
    return startWorkerProcess({
      address, inventoryPath: lab.inventoryPath, codecKeyFile, taskQueue: spec.taskQueue, logFile: join(dir, 'worker.log'),
      script: fileURLToPath(new URL('../setup/fault-worker.mjs', import.meta.url)),
      env: { RUNBOOK_SEALING_KEY_FILE: join(dir, 'sealing.key'), FAULT_LEDGER: ledger, FAULT_BUNDLE: bundle, ...FAULTS },
    });
  }

  /** Lines of the ledger: the boundaries the worker died at so far. */
  const kills = (): string[] => readFileSync(ledger, 'utf8').split('\n').filter((l) => l && !l.startsWith('---'));

  beforeAll(async () => {
    dir = tempDir(spec.taskQueue);
    ledger = join(dir, 'ledger');
    writeFileSync(ledger, '');
    lab = await Lab.start({ dir, subnet: spec.subnet, hosts: spec.hosts, ...(spec.clusters ? { clusters: spec.clusters } : {}) });
    codecKeyFile = writeTestCodecKey(dir);
    sealingKey = writeTestSealingKey(dir);
    // One webpack run for every restart of the worker.
    const bundle = join(dir, 'workflows.bundle.js');
    const { code } = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('../../dist/workflows/index.js', import.meta.url)),
      // Ours (refusing unencrypted payloads), then the fault injection's.
      workflowInterceptorModules: [fileURLToPath(new URL('../../dist/worker/interceptors.js', import.meta.url)), fileURLToPath(new URL('../setup/fault-workflow-interceptors.mjs', import.meta.url))],
      payloadConverterPath: fileURLToPath(new URL('../../dist/common/payload-converter.js', import.meta.url)),
      failureConverterPath: fileURLToPath(new URL('../../dist/common/failure-converter.js', import.meta.url)),
    });
    writeFileSync(bundle, code);
    worker = await startFaultWorker(bundle);
    client = await codecClient(address, codecKeyFile);
    // The worker dies at a boundary: start another at once, as a supervisor (systemd, npm start) would.
    supervisor = (async () => {
      while (!stopping) {
        await worker!.stopped;
        if (stopping) break;
        try {
          worker = await startFaultWorker(bundle);
        } catch (error) {
          appendFileSync(join(dir, 'worker.log'), `restart failed: ${(error as Error).message}\n`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    })();
  }, 180_000);

  afterAll(async () => {
    stopping = true;
    worker?.kill('SIGKILL');
    await supervisor;
    await client?.connection.close();
    await lab?.stop();
  });

  describe('a worker killed at each activity boundary', () => {
    it.each(scenarios.map((s) => [s.name, s] as const))('%s completes, each planned change applied once', async (_name, scenario) => {
      const mark = auditMark(lab, scenario.hosts);
      appendFileSync(ledger, `--- ${ALL ? '' : scenario.kills}\n`); // where the worker dies during this run
      const killsBefore = kills().length;
      const start = (type: string, input: Record<string, unknown>) =>
        client.workflow.start(type, { taskQueue: spec.taskQueue, workflowId: `kill-${type}-${Date.now()}`, args: [input] });
      const plans = await scenario.run({ client, lab, seal: (p) => sealSecret(sealingKey, p) }, start);
      const died = kills().slice(killsBefore);
      console.log(`${scenario.name}: the worker died ${died.length} times:\n  ${died.join('\n  ')}`);
      expect(died.length).toBeGreaterThan(0);
      // What was approved is what ran: per host, each command that changed it, once, in order.
      expect(changesByHost(auditSince(lab, mark))).toEqual(planByHost(...plans));
    }, ALL ? 3 * 3600_000 : 600_000);
  });
}
