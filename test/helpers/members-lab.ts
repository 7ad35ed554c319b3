/**
 * The stack of the members' VM runbooks' tests: a lab cluster (Ganeti or Proxmox), the lab's mail services (SMTP sink, DNS, the
 * members' address plan and approval policy), a codec key, the real worker process and a client of the dev server.
 * `restartWorker` after a kill; `stop` stops whichever worker runs then.
 */
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { Lab, type LabOptions } from '../../lab/lab.js';
import { startLabMail, type LabMail } from '../../lab/mail-services.js';
import { writeTestCodecKey } from '../setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from '../setup/worker-process.js';
import { codecClient, stopAll, tempDir } from './runbooks.js';

export interface MembersLab {
  dir: string;
  lab: Lab;
  labMail: LabMail;
  client: Client;
  codecKeyFile: string;
  worker: WorkerProcess;
  restartWorker(): Promise<WorkerProcess>;
  stop(): Promise<void>;
}

/** `cluster`: a lab preset's hosts and clusters, e.g. presets.ganetiCluster({ …, prepared: true }). */
export async function startMembersLab(o: { name: string; subnet: number; address: string; taskQueue: string; cluster: Omit<LabOptions, 'dir' | 'subnet'> }): Promise<MembersLab> {
  const dir = tempDir(o.name);
  const lab = await Lab.start({ dir, subnet: o.subnet, ...o.cluster });
  // The lab's mail services add the members' address plan (192.0.2.0/28) and the board's approval policy.
  const labMail = await startLabMail({ dir, subnet: o.subnet, inventoryPath: lab.inventoryPath, log: () => undefined });
  const codecKeyFile = writeTestCodecKey(dir);
  const startWorker = () => startWorkerProcess({ address: o.address, inventoryPath: lab.inventoryPath, codecKeyFile, taskQueue: o.taskQueue, logFile: join(dir, `worker-${Date.now()}.log`) });
  const stack: MembersLab = {
    dir, lab, labMail, codecKeyFile, worker: await startWorker(), client: await codecClient(o.address, codecKeyFile),
    restartWorker: async () => (stack.worker = await startWorker()),
    stop: () => stopAll(stack.worker, stack.client, labMail, lab),
  };
  return stack;
}
