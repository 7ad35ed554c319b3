/**
 * Passphrase problems during a planned reboot, end to end: real dev server, the real worker process, a Proxmox
 * cluster of the lab behind real sshd and dropbear. Every problem is an answer the sender reads, never a failed run
 * with the host waiting in dropbear; the hosts' audit logs say how many tries reached them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateSealingKey, sealSecret, type SealingKey } from '../common/sealing.js';
import { Lab, type AuditEntry } from '../lab/lab.js';
import { Mailbox, startLabMailbox } from '../lab/mailbox.js';
import { proxmoxCluster, proxmoxPassphrase } from '../lab/hosts/proxmox-node.js';
import type { HypervisorRebootResult } from '../workflows/hypervisorReboot.js';
import { approveUpdate, decideUpdate, submitPassphraseUpdate } from '../workflows/messages.js';
import { writeTestCodecKey, writeTestSealingKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';
import { answerPassphrases, codecClient, eventually, rawClient, sendPassphrase, stopAll, tempDir, waitingFor } from './helpers/runbooks.js';

const address = inject('temporalAddress');
const TASK_QUEUE = 'runbooks-unlock';
const NAMES = ['unl1', 'unl2', 'unl3'];
const PASSPHRASES = { root: { unl1: 'unl1 root passphrase 5b2e', unl2: 'unl2 root passphrase 0c4d', unl3: 'unl3 root passphrase 8f1a' }, shared: 'unl shared LUN 77e0', local: { unl1: 'unl1 local a1', unl2: 'unl2 local b2', unl3: 'unl3 local c3' } };
const WRONG = ['not the passphrase 3e1f', 'not the passphrase 9a7c', 'not the passphrase 06bd'];
const fast = { pollInterval: '1s', upTimeout: '60s', downTimeout: '30s', guestShutdownTimeout: '5s' };

let dir: string;
let lab: Lab;
let mailbox: Mailbox;
let client: Client;
let codecKeyFile: string;
let sealingKey: SealingKey;
let worker: WorkerProcess;
let workers = 0;
const started: string[] = [];

const seal = (passphrase: string) => sealSecret(sealingKey, passphrase);
const right = (host: string) => (what: string): string[] => [
  what.includes('system disk') ? proxmoxPassphrase({ passphrases: PASSPHRASES }, 'root', host)
  : what.includes('vg_fma_luks') ? PASSPHRASES.shared : proxmoxPassphrase({ passphrases: PASSPHRASES }, 'local', host),
];
/** The cryptroot-unlock commands that reached the host, with their exit codes. */
const unlocks = (host: string) => lab.audit(host).filter((e: AuditEntry) => e.command === 'cryptroot-unlock').map((e) => e.exitCode);

function startWorker(): Promise<WorkerProcess> {
  return startWorkerProcess({
    address, inventoryPath: lab.inventoryPath, codecKeyFile, taskQueue: TASK_QUEUE,
    env: { RUNBOOK_SEALING_KEY_FILE: join(dir, 'sealing.key') }, logFile: join(dir, `worker${++workers}.log`),
  });
}

async function rebootToDropbear(host: string): Promise<WorkflowHandle> {
  const handle = await client.workflow.start('hypervisorReboot', {
    taskQueue: TASK_QUEUE, workflowId: `unlock-${host}-${Date.now()}`, args: [{ host, reason: 'kernel upgrade', ...fast }],
  });
  started.push(handle.workflowId, `${handle.workflowId}-reboot`);
  await waitingFor(handle, 'approve');
  await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
  await waitingFor(handle, 'submitPassphrase');
  return handle;
}

/**
 * Holds the lab's next cryptroot-unlock of `host` once its passphrase arrived, until `release` (run it) — a
 * command slowed from inside the lab, until the lab's own per-pattern delays exist.
 */
function holdNextUnlock(host: string): { held: Promise<void>; release: () => void } {
  type Handle = (socket: Socket, message: { type: string }, pending: { host: string; command?: string } | null, setPending: unknown) => void;
  const labWithHandle = lab as unknown as { handle: Handle };
  const original = labWithHandle.handle;
  let release = () => undefined as void;
  const held = new Promise<void>((resolve) => {
    labWithHandle.handle = function (socket, message, pending, setPending) {
      if (message.type === 'stdin' && pending?.host === host && pending.command === 'cryptroot-unlock') {
        labWithHandle.handle = original;
        release = () => { try { original.call(lab, socket, message, pending, setPending); } catch { /* its client is gone */ } };
        resolve();
        return;
      }
      original.call(lab, socket, message, pending, setPending);
    };
  });
  return { held, release: () => release() };
}

beforeAll(async () => {
  dir = tempDir('unlock');
  const cluster = proxmoxCluster({ cluster: 'unl', names: NAMES, passphrases: PASSPHRASES, bootDelayMs: 800, unlockBootDelayMs: 300 });
  lab = await Lab.start({ dir, subnet: 223, hosts: cluster.hosts, clusters: cluster.clusters });
  mailbox = await startLabMailbox({ dir: join(dir, 'mail'), inventoryPath: lab.inventoryPath, log: () => undefined });
  codecKeyFile = writeTestCodecKey(dir);
  sealingKey = writeTestSealingKey(dir);
  worker = await startWorker();
  client = await codecClient(address, codecKeyFile);
});

afterAll(() => stopAll(worker, client, mailbox, lab));

describe('passphrase problems during a planned reboot', () => {
  it('a stale key is refused before history; a tampered value and a line break spend no host try; a wrong one fails its Update with the tries left', async () => {
    const handle = await rebootToDropbear('unl1');
    const stale = await handle.executeUpdate(submitPassphraseUpdate, { args: [{ by: 'bob', passphrase: sealSecret(generateSealingKey('retired-2025'), PASSPHRASES.root.unl1) }] })
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(String((stale as WorkflowUpdateFailedError).cause?.message)).toContain('passphrase.keyId: sealed for key "retired-2025", which the worker does not hold');
    const sealed = seal(PASSPHRASES.root.unl1);
    const tampered = { ...sealed, tag: Buffer.alloc(16, 7).toString('base64') };
    expect(await sendPassphrase(handle, tampered)).toMatch(/it was altered.*\(no try was spent: 3 tries left\)$/);
    expect(await sendPassphrase(handle, seal(`${PASSPHRASES.root.unl1}\n`))).toMatch(/line break.*\(no try was spent: 3 tries left\)$/);
    expect(unlocks('unl1')).toEqual([]); // none of them reached the host
    expect(await sendPassphrase(handle, seal(WRONG[0]!))).toBe('wrong passphrase: 2 tries left');
    const outcomes = await answerPassphrases(handle, seal, right('unl1'));
    expect(outcomes[0]).toBe('unl1: cryptsetup: sda5_crypt set up successfully');
    const result: HypervisorRebootResult = await handle.result();
    expect(result.unlocked.map((u) => `${u.volume}:${u.tries}`)).toEqual(['sda5_crypt:2', 'vg_fma_luks:1', 'vg_local_luks:1']);
    expect(unlocks('unl1')).toEqual([1, 0]); // the wrong try, then the right one
    const accepted = (await handle.fetchHistory()).events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
    expect(accepted).toBe(7); // approve, tampered, line break, wrong, right, two LUNs: the stale key left nothing
  });

  it('the worker killed while cryptroot-unlock runs: the host is checked, the open disk is not unlocked twice', async () => {
    const handle = await rebootToDropbear('unl2');
    const hold = holdNextUnlock('unl2');
    const sent = sendPassphrase(handle, seal(PASSPHRASES.root.unl2));
    await hold.held; // the passphrase is at the host, cryptroot-unlock has not answered
    worker.kill('SIGKILL');
    await worker.stopped;
    hold.release(); // the command goes through on the host; its answer has nobody to go to
    worker = await startWorker();
    // The lost try times out on its heartbeat; the run reads the host (OpenSSH in the new boot) instead of asking again.
    expect(await sent).toMatch(/^unl2's system disk is open: it answers on OpenSSH \(boot id \S+\)$/);
    await answerPassphrases(handle, seal, right('unl2'));
    const result: HypervisorRebootResult = await handle.result();
    expect(result.unlocked.map((u) => `${u.volume}:${u.tries}`)).toEqual(['sda5_crypt:1', 'vg_fma_luks:1', 'vg_local_luks:1']);
    expect(unlocks('unl2')).toEqual([0]); // once
  });

  it('spent tries: a person power-cycles the host and retries; the run unlocks it and ends well', async () => {
    const handle = await rebootToDropbear('unl3');
    const told: string[] = [];
    for (const wrong of WRONG) told.push(await sendPassphrase(handle, seal(wrong)));
    expect(told).toEqual([
      'wrong passphrase: 2 tries left', 'wrong passphrase: 1 try left',
      "wrong passphrase, and unl3's initramfs takes no more tries: no tries left, the admins are asked what to do",
    ]);
    const asked = await waitingFor(handle, 'decide');
    expect(asked.waitingFor!.what).toContain('unl3 is stuck in its initramfs');
    const mail = await mailbox.waitFor((m) => m.subject.includes('unl3 is stuck in its initramfs'));
    expect(mail.text).toContain('power-cycle unl3 first');
    await lab.powerCycle('unl3');
    await handle.executeUpdate(decideUpdate, { args: [{ by: 'carol', decision: 'retry', comment: 'power-cycled' }] });
    await answerPassphrases(handle, seal, right('unl3'));
    const result: HypervisorRebootResult = await handle.result();
    expect(result.decisions).toMatchObject([{ about: 'cryptroot-unlock on unl3', decision: 'retry', by: 'carol' }]);
    expect(result.unlocked[0]).toMatchObject({ volume: 'sda5_crypt', tries: 1 });
    expect(unlocks('unl3')).toEqual([1, 1, 1, 0]);
    expect(lab.audit('unl3').filter((e) => e.command === 'reboot')).toHaveLength(1);
    await eventually('every guest back', () => lab.stage('unl3') === 'openssh' || undefined);
  });
});

describe('secrecy', () => {
  it('no passphrase of these runs is in their histories, the worker logs, the lab files or the mails', async () => {
    const secrets = [...WRONG, ...Object.values(PASSPHRASES.root), PASSPHRASES.shared, ...Object.values(PASSPHRASES.local)];
    const raw = await rawClient(address);
    const places: [string, Buffer][] = [];
    for (const id of started) {
      const history = await raw.workflow.getHandle(id).fetchHistory();
      places.push([`raw history ${id}`, Buffer.from(proto.temporal.api.history.v1.History.encode(history).finish())]);
      places.push([`decoded history ${id}`, Buffer.from(JSON.stringify(await client.workflow.getHandle(id).fetchHistory()))]);
    }
    const files = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)) : e.isFile() ? [join(d, e.name)] : []));
    for (const file of files(dir)) places.push([file, readFileSync(file)]);
    for (const m of mailbox.messages()) places.push([`mail ${m.subject}`, m.raw]);
    expect(places.length).toBeGreaterThan(10);
    for (const [where, bytes] of places) for (const secret of secrets) expect(bytes.includes(secret), `${where} holds a passphrase`).toBe(false);
  });
});
