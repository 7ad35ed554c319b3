/**
 * The planned hypervisor reboot end to end: real Temporal dev server, the real worker process, Proxmox nodes and
 * Xen dom0s of the lab behind real sshd and dropbear, real SMTP. Assertions are what an admin would check: where
 * every guest ended, the audit log of each host, the mail that arrived, the history.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sealSecret, type SealingKey } from '../common/sealing.js';
import { Lab, type AuditEntry } from '../lab/lab.js';
import { Mailbox, startLabMailbox } from '../lab/mailbox.js';
import { proxmoxCluster, proxmoxPassphrase, type ProxmoxNodeState } from '../lab/hosts/proxmox-node.js';
import { xenDom0WithGuests, type XenDom0State } from '../lab/hosts/xen-dom0.js';
import type { HypervisorRebootResult } from '../workflows/hypervisorReboot.js';
import { approveUpdate, decideUpdate, planQuery, progressQuery, submitPassphraseUpdate } from '../workflows/messages.js';
import { writeTestCodecKey, writeTestSealingKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';
import { answerPassphrases as answerAll, changesByHost, codecClient, eventually, planByHost, rawClient, recordHistory, stopAll, tempDir, waitingFor } from './helpers/runbooks.js';

const { temporal } = proto;
const address = inject('temporalAddress');
const TASK_QUEUE = 'runbooks';
const NAMES = ['pve1', 'pve2', 'pve3'];
const PASSPHRASES = { root: { pve1: 'correct horse battery staple pve1', pve2: 'pve2 root: the quick brown fox', pve3: 'pve3 root passphrase 7c1d' }, shared: 'shared LUN passphrase 4e2f', local: { pve1: 'pve1 local LUN ab31', pve2: 'pve2 local LUN 99d0', pve3: 'pve3 local LUN 51e8' } };
const WRONG = 'not the passphrase 0f3a';
const NEW_ROOT = 'the new root passphrase for pve1, rotated';
const fast = { pollInterval: '1s', upTimeout: '30s', downTimeout: '30s', guestShutdownTimeout: '5s' };

let dir: string;
let lab: Lab;
let mailbox: Mailbox;
let client: Client;
let codecKeyFile: string;
let sealingKey: SealingKey;
let worker: WorkerProcess;

const seal = (passphrase: string) => sealSecret(sealingKey, passphrase);

/** Where every guest of the cluster is, and whether it runs: "vmid@node:status". */
function placement(): string[] {
  return NAMES.flatMap((n) => lab.state<ProxmoxNodeState>(n).guests.map((g) => `${g.vmid}@${n}:${g.status}`)).sort();
}

const changes = (audit: AuditEntry[], re: RegExp) => audit.filter((e) => e.exitCode === 0 && re.test(e.command)).map((e) => e.command);
const HOST_CHANGES = /^(qm|pct) (migrate|shutdown|start) |^reboot$|^cryptsetup luksOpen --key-file|^xl (shutdown|create|destroy) /;

async function startReboot(host: string, extra: Record<string, unknown> = {}): Promise<WorkflowHandle> {
  return client.workflow.start('hypervisorReboot', {
    taskQueue: TASK_QUEUE,
    workflowId: `reboot-${host}-${Date.now()}`,
    args: [{ host, reason: 'kernel upgrade', ...fast, ...extra }],
  });
}

async function approve(handle: WorkflowHandle): Promise<void> {
  await waitingFor(handle, 'approve');
  await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice (board)', comment: 'maintenance window' }] });
}

/** Answer passphrase requests until the run stops asking; `answers` picks the passphrase from what is asked. */
const answerPassphrases = (handle: WorkflowHandle, answers: (what: string) => string[], outcomes: string[] = []) => answerAll(handle, seal, answers, outcomes);

/** The right passphrase for what a node's runbook asks. */
function rightFor(host: string) {
  return (what: string): string[] => {
    if (what.includes('system disk')) return [proxmoxPassphrase({ passphrases: PASSPHRASES }, 'root', host)];
    if (what.includes('vg_fma_luks')) return [PASSPHRASES.shared];
    return [proxmoxPassphrase({ passphrases: PASSPHRASES }, 'local', host)];
  };
}


/** Our CLI, as an operator runs it; stdin is not a terminal, so it reads one passphrase per line. */
function runbookCli(args: string[], stdin: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = join(import.meta.dirname, '..', 'bin', 'runbook.js');
  const env = { ...process.env, TEMPORAL_ADDRESS: address, RUNBOOK_CODEC_KEY_FILE: codecKeyFile, RUNBOOK_SEALING_PUBLIC_KEY_FILE: join(dir, 'sealing.pub') };
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env, timeout: 90_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }));
    child.stdin!.end(stdin);
  });
}

/** Where each host's audit stands now: `auditSince(mark)` is what the hosts received after. */
function auditMark(hosts: string[]): Record<string, number> {
  return Object.fromEntries(hosts.map((h) => [h, lab.audit(h).length]));
}
function auditSince(mark: Record<string, number>): Record<string, AuditEntry[]> {
  return Object.fromEntries(Object.entries(mark).map(([h, n]) => [h, lab.audit(h).slice(n)]));
}

function every(dirPath: string): string[] {
  return readdirSync(dirPath).flatMap((f) => {
    const p = join(dirPath, f);
    if (!statSync(p, { throwIfNoEntry: false })?.isFile()) return statSync(p, { throwIfNoEntry: false })?.isDirectory() ? every(p) : [];
    return [p];
  });
}

beforeAll(async () => {
  dir = tempDir('hypervisor');
  const cluster = proxmoxCluster({ names: NAMES, passphrases: PASSPHRASES, bootDelayMs: 800, unlockBootDelayMs: 300 });
  // A second cluster whose other nodes are too small to take tiny1's guests: the preflight must refuse.
  const GiB = 1024 ** 3;
  const tiny = proxmoxCluster({ cluster: 'tiny', names: ['tiny1', 'tiny2', 'tiny3'], nodeCapacity: { tiny2: { memBytes: 4 * GiB }, tiny3: { memBytes: 4 * GiB } } });
  const cyclic = xenDom0WithGuests('dom0-cycle');
  cyclic.guests = [{ name: 'firewall', dependsOn: ['srvlan'] }, { name: 'srvlan', dependsOn: ['srvnfs'] }, { name: 'srvnfs', dependsOn: ['firewall'] }];
  lab = await Lab.start({
    dir,
    subnet: 220,
    hosts: [
      ...cluster.hosts,
      ...tiny.hosts,
      xenDom0WithGuests('dom0-xen', { bootDelayMs: 800 }),
      xenDom0WithGuests('dom0-hang', { bootDelayMs: 800, domains: { guest2: { hangsOnShutdown: true } } }),
      cyclic,
      xenDom0WithGuests('dom0-gone', { bootDelayMs: 800 }),
    ],
    clusters: [...cluster.clusters, ...tiny.clusters],
  });
  mailbox = await startLabMailbox({ dir: join(dir, 'mail'), inventoryPath: lab.inventoryPath, log: () => undefined });
  codecKeyFile = writeTestCodecKey(dir);
  sealingKey = writeTestSealingKey(dir);
  const sealingKeyFile = join(dir, 'sealing.key');
  worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile, env: { RUNBOOK_SEALING_KEY_FILE: sealingKeyFile }, logFile: join(dir, 'worker.log') });
  client = await codecClient(address, codecKeyFile);
});

afterAll(() => stopAll(worker, client, mailbox, lab));

describe('hypervisorReboot on a Proxmox node', () => {
  it('drains, reboots through dropbear, takes a wrong then a right passphrase, opens the LUNs and brings every guest back', async () => {
    const before = placement();
    const mark = auditMark(NAMES);
    const handle = await startReboot('pve1');
    await waitingFor(handle, 'approve');
    // Nothing has changed yet, and the plan shows every command, per host, in order.
    expect(lab.audit('pve1').filter((e) => HOST_CHANGES.test(e.command))).toEqual([]);
    const plan = (await handle.query(planQuery))!;
    const commands = plan.steps.map((s) => `${s.host} ${s.stage}: ${s.command}`);
    expect(commands).toEqual(expect.arrayContaining([
      'pve1 openssh: qm migrate 1002 pve2 --online', 'pve1 openssh: pct migrate 1101 pve3 --restart', 'pve1 openssh: qm shutdown 2010 --timeout 180',
      'pve1 openssh: reboot', 'pve1 dropbear: cryptroot-unlock', 'pve1 openssh: vgchange -ay', 'pve1 openssh: qm start 2010', 'pve2 openssh: qm migrate 1002 pve1 --online',
    ]));
    expect(commands.indexOf('pve1 openssh: reboot')).toBeLessThan(commands.indexOf('pve1 dropbear: cryptroot-unlock'));
    await approve(handle);
    const outcomes = await answerPassphrases(handle, (what) => (what.includes('system disk') ? [WRONG, ...rightFor('pve1')(what)] : rightFor('pve1')(what)));
    const result: HypervisorRebootResult = await handle.result();
    await recordHistory(handle, 'hypervisorReboot-proxmox', codecKeyFile);
    await recordHistory(client.workflow.getHandle(`${handle.workflowId}-reboot`), 'rebootHost-dropbear', codecKeyFile);

    expect(outcomes[0]).toBe('wrong passphrase: 2 tries left');
    expect(result.unlocked.map((u) => `${u.volume}:${u.tries}`)).toEqual(['sda5_crypt:2', 'vg_fma_luks:1', 'vg_local_luks:1']);
    expect(result.bootIdAfter).not.toBe(result.bootIdBefore);
    expect(placement()).toEqual(before); // every guest back where it was, running as before
    const audit = lab.audit('pve1');
    // The local-storage VM was shut down and started, the shared ones migrated live and back, the container restarted.
    expect(changes(audit, /^qm shutdown /)).toEqual(['qm shutdown 2010 --timeout 180']);
    expect(changes(audit, /^qm start /)).toEqual(['qm start 2010']);
    expect(changes(audit, /^pct migrate 1101 /)).toHaveLength(1);
    expect(audit.filter((e) => e.stage === 'dropbear').map((e) => `${e.command}:${e.exitCode}`)).toEqual([
      'cat /proc/sys/kernel/random/boot_id:0', 'cryptroot-unlock:1', 'cryptroot-unlock:0',
    ]);
    expect(changes(audit, /^cryptsetup luksOpen --key-file/)).toEqual([
      'cryptsetup luksOpen --key-file=- /dev/mapper/36005076802810cce880000000000002d vg_fma_luks',
      expect.stringMatching(/^cryptsetup luksOpen --key-file=- \/dev\/mapper\/3600\S+ vg_local_luks$/),
    ]);
    expect(mailbox.messages().some((m) => m.subject.includes('pve1 waits in dropbear'))).toBe(true);
    // What was approved is what ran: per host, every command that changed it, in order, reads aside.
    expect(changesByHost(auditSince(mark))).toEqual(planByHost(plan));
    // No network LUN was skipped, the root unlock was a step of its own: every step done, none skipped.
    expect(await handle.query(progressQuery)).toMatchObject({ stepsDone: 7, stepsSkipped: 0, stepsTotal: 7 });
  });

  it('refuses a plaintext passphrase without recording it, and an approval out of turn', async () => {
    const handle = await startReboot('pve2', { migrateBack: false });
    await expect(handle.executeUpdate(submitPassphraseUpdate, { args: [{ by: 'eve', passphrase: 'plain text secret 1234' as never }] }))
      .rejects.toThrow(WorkflowUpdateFailedError);
    await approve(handle);
    // The operator's way: `npx runbook unlock`, a wrong passphrase first, then the right one on the next line.
    await waitingFor(handle, 'submitPassphrase');
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: 'mallory' }] })).rejects.toThrow(WorkflowUpdateFailedError);
    const unlock = await runbookCli(['unlock', handle.workflowId, '--by', 'erin'], `${WRONG}\n${PASSPHRASES.root.pve2}\n`);
    expect(unlock.stdout + unlock.stderr).toContain('wrong passphrase: 2 tries left');
    expect(unlock.code).toBe(0);
    expect(unlock.stdout + unlock.stderr).not.toContain(PASSPHRASES.root.pve2);
    await answerPassphrases(handle, rightFor('pve2'));
    await handle.result();
    const raw = Buffer.from(temporal.api.history.v1.History.encode(await (await rawClient(address)).workflow.getHandle(handle.workflowId).fetchHistory()).finish());
    expect(raw.includes('plain text secret 1234')).toBe(false);
    const kinds = (await handle.fetchHistory()).events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
    expect(kinds).toBe(5); // approve, root wrong then right, two LUNs: the refused Updates left nothing
  });

  it('survives the worker killed while the host is down and while it waits for the passphrase, each change applied once', async () => {
    const before = placement();
    const handle = await startReboot('pve3');
    await approve(handle);
    await eventually('pve3 down', () => lab.stage('pve3') === 'down');
    worker.kill('SIGKILL');
    await worker.stopped;
    worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile, env: { RUNBOOK_SEALING_KEY_FILE: join(dir, 'sealing.key') }, logFile: join(dir, 'worker2.log') });
    await waitingFor(handle, 'submitPassphrase');
    worker.kill('SIGKILL');
    await worker.stopped;
    worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile, env: { RUNBOOK_SEALING_KEY_FILE: join(dir, 'sealing.key') }, logFile: join(dir, 'worker3.log') });
    await answerPassphrases(handle, rightFor('pve3'));
    await handle.result();
    expect(placement()).toEqual(before);
    const all = NAMES.flatMap((n) => changes(lab.audit(n), HOST_CHANGES).filter((c) => c !== 'reboot' || n === 'pve3').map((c) => `${n}: ${c}`));
    const mine = all.filter((c) => c.startsWith('pve3: ') || /(migrate|start|shutdown) (1004|1103|1104|2006|2007) /.test(c));
    expect(new Set(mine).size).toBe(mine.length); // nothing twice
    expect(changes(lab.audit('pve3'), /^reboot$/)).toHaveLength(1);
  });
});

describe('hypervisorReboot preflight', () => {
  it('refuses with the numbers when the other nodes cannot take the guests, before anything changes', async () => {
    const handle = await startReboot('tiny1');
    const error = await handle.result().catch((e: unknown) => e) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    let cause: { cause?: unknown; message?: string } | undefined = error;
    while (cause?.cause) cause = cause.cause as typeof cause;
    expect(cause?.message).toContain('refused to reboot tiny1');
    expect(cause?.message).toMatch(/no node can take VM \d+ \(\S+, [\d.]+ GiB, \d vCPU\) without overcommitting RAM/);
    const audit = ['tiny1', 'tiny2', 'tiny3'].flatMap((n) => lab.audit(n));
    expect(audit.filter((e) => HOST_CHANGES.test(e.command))).toEqual([]);
  });
});

describe('rollingClusterReboot', () => {
  it('reboots the three nodes one at a time and the cluster stays quorate throughout', async () => {
    const before = placement();
    let lost = 0;
    const sampler = setInterval(() => {
      const up = NAMES.filter((n) => lab.stage(n) === 'openssh').length;
      if (up < 2) lost++;
    }, 50);
    const mark = auditMark(NAMES);
    const handle = await client.workflow.start('rollingClusterReboot', {
      taskQueue: TASK_QUEUE, workflowId: `roll-${Date.now()}`, args: [{ cluster: 'fma', reason: 'monthly updates', ...fast }],
    });
    try {
      await approve(handle);
      for (const node of NAMES) {
        const child = client.workflow.getHandle(`${handle.workflowId}-${node}`);
        await eventually(`child for ${node}`, () => child.describe().then(() => true).catch(() => undefined));
        await answerPassphrases(child, rightFor(node));
      }
      const result = await handle.result();
      await recordHistory(handle, 'rollingClusterReboot', codecKeyFile);
      expect(result.nodes.map((n: { node: string }) => n.node)).toEqual(NAMES);
      // Each node ran its own approved plan, node after node: together, every command that changed a host.
      const plans = await Promise.all(NAMES.map((n) => client.workflow.getHandle(`${handle.workflowId}-${n}`).query(planQuery)));
      expect(changesByHost(auditSince(mark))).toEqual(planByHost(...plans.map((p) => p!)));
    } finally {
      clearInterval(sampler);
    }
    expect(lost).toBe(0);
    expect(placement()).toEqual(before);
  });
});

describe('hypervisorReboot on a Xen dom0', () => {
  it('stops the guests in batches from the dependency graph and starts them in the reverse order', async () => {
    const mark = auditMark(['dom0-xen']);
    const handle = await startReboot('dom0-xen');
    await approve(handle);
    const result: HypervisorRebootResult = await handle.result();
    await recordHistory(handle, 'hypervisorReboot-xen', codecKeyFile);
    expect(changesByHost(auditSince(mark))).toEqual(planByHost((await handle.query(planQuery))!));
    // A dom0 without LUKS skips both unlock steps, and says so.
    expect(result.timeline.filter((t) => t.skipped).map((t) => t.step)).toEqual(['dropbear: unlock the system disk', 'unlock the network disks']);
    expect(await handle.query(progressQuery)).toMatchObject({ stepsDone: 5, stepsSkipped: 2, stepsTotal: 7 });
    const audit = lab.audit('dom0-xen').filter((e) => /^xl (shutdown|create) /.test(e.command)).map((e) => e.command);
    const stopAt = (name: string) => audit.indexOf(`xl shutdown ${name}`);
    const startAt = (name: string) => audit.indexOf(`xl create /etc/xen/${name}.cfg`);
    for (const [guest, dependency] of [['guest2', 'srvpub'], ['srvpub', 'srvnfs'], ['srvpub', 'srvlan'], ['srvnfs', 'firewall'], ['machin', 'firewall']] as const) {
      expect(stopAt(guest)).toBeLessThan(stopAt(dependency));
      expect(startAt(dependency)).toBeLessThan(startAt(guest));
    }
    expect(lab.state<XenDom0State>('dom0-xen').domains!.every((d) => d.state !== 'stopped')).toBe(true);
  });

  it('bounds the wait for a guest that does not stop; a person forces it', async () => {
    const handle = await startReboot('dom0-hang');
    await approve(handle);
    await waitingFor(handle, 'decide');
    await mailbox.waitFor((m) => m.subject.includes('dom0-hang: guests do not stop'));
    await handle.executeUpdate(decideUpdate, { args: [{ by: 'carol', decision: 'force' }] });
    await handle.result();
    expect(changes(lab.audit('dom0-hang'), /^xl destroy /)).toEqual(['xl destroy guest2']);
  });

  it('refuses a dependency cycle before any SSH, naming the cycle', async () => {
    const handle = await startReboot('dom0-cycle');
    const error = await handle.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(String((error as WorkflowFailedError).cause?.message)).toContain('cycle: firewall → srvlan → srvnfs → firewall');
    expect(lab.audit('dom0-cycle')).toEqual([]);
  });

  it('mails the admins when the host never comes back, waits for a decision, and records the abort', async () => {
    lab.setNeverComesBack('dom0-gone', true);
    const handle = await startReboot('dom0-gone', { upTimeout: '4s' });
    await approve(handle);
    const child = client.workflow.getHandle(`${handle.workflowId}-reboot`);
    const progress = await waitingFor(child, 'decide');
    expect(progress.waitingFor!.what).toContain('dom0-gone has not come back');
    const mail = await mailbox.waitFor((m) => m.subject.includes('dom0-gone has not come back'));
    expect(mail.to).toEqual(['admins@lab.invalid']);
    await child.executeUpdate(decideUpdate, { args: [{ by: 'dave', decision: 'abort', comment: 'PSU dead, ticket 42' }] });
    const error = await handle.result().catch((e: unknown) => e) as WorkflowFailedError;
    let cause: { cause?: unknown; message?: string } | undefined = error;
    while (cause?.cause) cause = cause.cause as typeof cause;
    expect(cause?.message).toContain('dom0-gone did not come back after reboot; dave aborted the wait: PSU dead, ticket 42');
  });
});

describe('luksKeyRotation', () => {
  it('adds the new passphrase, tests it, and only then removes the old one; the host always has a working key', async () => {
    const mark = auditMark(['pve1']);
    const handle = await client.workflow.start('luksKeyRotation', { taskQueue: TASK_QUEUE, workflowId: `rotate-${Date.now()}`, args: [{ host: 'pve1' }] });
    const outcomes = await answerPassphrases(handle, (what) => (what.includes('CURRENT') ? [WRONG, PASSPHRASES.root.pve1] : [NEW_ROOT]));
    expect(outcomes[0]).toContain('does not open /dev/sda5');
    const result = await handle.result();
    await recordHistory(handle, 'luksKeyRotation', codecKeyFile);
    expect(result).toMatchObject({ device: '/dev/sda5', added: 'done', removed: 'done' });
    const steps = lab.audit('pve1').filter((e) => /^cryptsetup (luksAddKey|luksRemoveKey)/.test(e.command)).map((e) => e.command);
    expect(steps).toEqual(['cryptsetup luksAddKey /dev/sda5', 'cryptsetup luksRemoveKey --key-file=- /dev/sda5']);
    expect(changesByHost(auditSince(mark))).toEqual(planByHost((await handle.query(planQuery))!));
    expect(lab.luksAccepts('pve1', 'sda5_crypt', NEW_ROOT)).toBe(true);
    expect(lab.luksAccepts('pve1', 'sda5_crypt', PASSPHRASES.root.pve1)).toBe(false);
  });
});

describe('secrecy of passphrases', () => {
  it('no passphrase is found in any history, decoded view, worker log, lab file or mail', async () => {
    const secrets = [WRONG, NEW_ROOT, ...Object.values(PASSPHRASES.root), PASSPHRASES.shared, ...Object.values(PASSPHRASES.local)];
    const raw = await rawClient(address);
    const places: [string, Buffer][] = [];
    for await (const wf of raw.workflow.list({ query: `WorkflowType = 'hypervisorReboot' OR WorkflowType = 'rollingClusterReboot' OR WorkflowType = 'rebootHost' OR WorkflowType = 'luksKeyRotation'` })) {
      const history = await raw.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      places.push([`raw history ${wf.workflowId}`, Buffer.from(temporal.api.history.v1.History.encode(history).finish())]);
      const decoded = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      places.push([`decoded history ${wf.workflowId}`, Buffer.from(JSON.stringify(decoded))]);
    }
    for (const file of every(dir)) places.push([file, readFileSync(file)]);
    for (const m of mailbox.messages()) places.push([`mail ${m.subject}`, m.raw]);
    expect(places.length).toBeGreaterThan(20);
    for (const [where, bytes] of places) for (const secret of secrets) expect(bytes.includes(secret), `${where} holds a passphrase`).toBe(false);
  });
});
