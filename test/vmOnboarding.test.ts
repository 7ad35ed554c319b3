/**
 * vmOnboarding end to end: a lab Ganeti cluster (master + node, hypervisors prepared), the lab's Knot (RFC 2136 and
 * a real DNS query), its SMTP sink, the real worker process and dev server. What is asserted is what an admin would
 * check: the instance booting from its disk, the DNS record answering, the user, authorized_keys and the Match User
 * block once (checked by the real `sshd -t`), the member's mails; a refused sshd_config put back and never reloaded;
 * a worker killed during `gnt-instance add` ending with one instance; the member's DKIM-signed reply in the thread, read
 * by the mail intake from the lab's Dovecot, ending the wait (another member's or a forged one does not). Lab subnet 247.
 */
import { execFileSync } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { matchGroupBlock } from '../common/commands.js';
import { SSHD_CONFIG } from '../lab/capabilities/sshd/index.js';
import type { GanetiNodeState } from '../lab/hosts/ganeti-node.js';
import { Lab, presets } from '../lab/lab.js';
import { RFB_GREETING } from '../lab/vnc.js';
import { requestWorkflowId } from '../activities/request-mail.js';
import { LAB_PEOPLE, REQUEST_ADDRESS, startLabMail, type LabMail } from '../lab/mail-services.js';
import type { ReceivedMail } from '../lab/mailbox.js';
import { mailIntakeStatusQuery } from '../workflows/mailIntake.js';
import { approveUpdate, decideUpdate, installDoneUpdate, planQuery } from '../workflows/messages.js';
import type { VmOnboardingResult } from '../workflows/vmOnboarding.js';
import { onboardingWorkflowId } from '../workflows/vmRequest.js';
import { mailIntakeWorkflowId } from '../worker/main.js';
import { codecClient, eventually, recordHistory, stopAll, tempDir, waitingFor } from './helpers/runbooks.js';
import { forwardReads, memberLogin, tryExec } from './helpers/tunnel.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';

const address = inject('temporalAddress');
const SUBNET = 247;
const TASK_QUEUE = `runbooks-onboarding-${process.pid}`;
const [alice, bruno] = LAB_PEOPLE.filter((p) => p.roles.includes('member'));
const [chloe, david] = LAB_PEOPLE.filter((p) => p.roles.includes('board'));
const ADMIN = LAB_PEOPLE.find((p) => p.roles.includes('admin'))!;
const MASTER = 'gnt-master';

let dir: string;
let lab: Lab;
let labMail: LabMail;
let client: Client;
let codecKeyFile: string;
let worker: WorkerProcess;

const node = (host: string) => lab.state<GanetiNodeState>(host);
const instances = () => node(MASTER).ganeti!.instances!;

function memberKey(name: string): string {
  const path = join(dir, `${name}_ed25519`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@laptop`, '-f', path]);
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

function startWorker(): Promise<WorkerProcess> {
  return startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile, taskQueue: TASK_QUEUE, logFile: join(dir, `worker-${Date.now()}.log`) });
}

/** The request's Message-ID of a test run (the dev server outlives a run of this file). */
const requestId = (id: string) => `<${id}-${process.pid}@lab.invalid>`;

/** An onboarding as the intake starts it: its id from the request's Message-ID, so a reply in its thread finds it. */
function start(member: string, sshKey: string, id: string): Promise<WorkflowHandle> {
  const messageId = requestId(id);
  return client.workflow.start('vmOnboarding', {
    taskQueue: TASK_QUEUE, workflowId: onboardingWorkflowId(requestWorkflowId(messageId, Buffer.alloc(0))),
    args: [{ member, sshKey, requestedBy: 'admin-cli', request: { messageId, verdict: 'ok: an authenticated member' } }],
  });
}

/** A reply in the request's thread to the request address: the lab signs it when the envelope sender is the From. */
function reply(from: string, to: ReceivedMail, text: string, envelopeFrom = from) {
  return createTransport({ host: '127.0.0.1', port: labMail.smtp.port, secure: false, ignoreTLS: true }).sendMail({
    envelope: { from: envelopeFrom, to: REQUEST_ADDRESS }, from, to: REQUEST_ADDRESS, subject: 'Re: Votre VM est prête à être installée',
    messageId: `<reply-${Math.random().toString(36).slice(2)}@lab.invalid>`, inReplyTo: to.messageId, references: [to.headers.references ?? '', to.messageId].filter(Boolean), text,
  });
}

const intakeReplies = () => client.workflow.getHandle(mailIntakeWorkflowId(TASK_QUEUE)).query(mailIntakeStatusQuery).then((s) => s.replies);

async function approve(handle: WorkflowHandle, by: string): Promise<void> {
  await waitingFor(handle, approveUpdate.name);
  await handle.executeUpdate(approveUpdate, { args: [{ by }] });
}

beforeAll(async () => {
  dir = tempDir('onboarding');
  const cluster = presets.ganetiCluster({ nodes: [MASTER, 'gnt-node'], prepared: true, addMs: 3000 });
  lab = await Lab.start({ dir, subnet: SUBNET, ...cluster });
  // The lab's mail services add the members' address plan (192.0.2.0/28) and the board's approval policy.
  labMail = await startLabMail({ dir, subnet: SUBNET, inventoryPath: lab.inventoryPath, log: () => undefined });
  codecKeyFile = writeTestCodecKey(dir);
  client = await codecClient(address, codecKeyFile);
  // Polling every second for the test; the worker finds it running and starts no other.
  await client.workflow.start('mailIntake', { taskQueue: TASK_QUEUE, workflowId: mailIntakeWorkflowId(TASK_QUEUE), args: [{ pollEvery: '1 second', pollsPerRun: 100 }] });
  worker = await startWorker();
});

afterAll(async () => {
  await client?.workflow.getHandle(mailIntakeWorkflowId(TASK_QUEUE)).terminate('test over').catch(() => undefined);
  await stopAll(worker, client, labMail, lab);
});

describe('vmOnboarding', () => {
  it('creates the VM, its DNS record and the jailed account once, mails the member, and boots from the disk once the install is done', async () => {
    const key = memberKey('alice');
    const handle = await start(alice!.email, key, 'alice-1');
    await waitingFor(handle, approveUpdate.name);
    const plan = (await handle.query(planQuery))!;
    expect(plan.facts).toMatchObject({ reference: 'REF-HOST-VM-8', ip: '192.0.2.2', mailVerdict: 'ok: an authenticated member', key: { type: 'ssh-ed25519' } });
    expect(plan.steps.map((s) => `${s.host}: ${s.command}`)).toContain(`${MASTER}: gnt-instance modify -H boot_order=disk ref-host-vm-8.lab.invalid`);
    // The member is not the board: their approval is refused.
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: alice!.name }] })).rejects.toThrow();
    await handle.executeUpdate(approveUpdate, { args: [{ by: chloe!.name }] });

    await waitingFor(handle, installDoneUpdate.name);
    const primary = (plan.facts as { primary: string }).primary;
    const vm = instances().find((i) => i.name === 'ref-host-vm-8.lab.invalid')!;
    expect(vm).toMatchObject({ status: 'running', bootOrder: 'cdrom', ips: ['192.0.2.2'], pnode: primary });
    const host = node(primary);
    expect(host.users!.filter((u) => u.name === 'ref-host-vm-8')).toEqual([expect.objectContaining({ shell: '/bin/false', gid: 1001, passwordDisabled: true })]);
    expect(host.homes!['/home/ref-host-vm-8/.ssh/authorized_keys']).toBe(`${key}\n`);
    expect(host.homes!['/home/ref-host-vm-8/banner']).toContain(`Port VNC pour accéder à votre VM : ${vm.networkPort}`);
    const config = host.sshFiles![SSHD_CONFIG]!;
    const block = `Match User ref-host-vm-8\n    Banner /home/ref-host-vm-8/banner\n    PermitOpen localhost:${vm.networkPort}\n`;
    expect(config.split(block).length).toBe(2);
    expect(config.indexOf(block)).toBeLessThan(config.indexOf(matchGroupBlock('ref-host-vm')));
    expect(host.sshdRunning).toBe(config);
    const ready = await labMail.smtp.waitFor((m) => m.to.includes(alice!.email) && m.subject.includes('prête'));
    expect(ready.text).toContain(`ssh -N -L ${vm.networkPort}:localhost:${vm.networkPort} ref-host-vm-8@${primary}`);
    expect(ready.headers['in-reply-to']).toBe(requestId('alice-1'));
    const resolver = new Resolver();
    resolver.setServers([`${labMail.dns.host}:${labMail.dns.port}`]);
    expect(await resolver.resolve4('ref-host-vm-8.lab.invalid')).toEqual(['192.0.2.2']);

    // Only the member or an admin says the install is done.
    await expect(handle.executeUpdate(installDoneUpdate, { args: [{ by: chloe!.name }] })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/only the member or an admin/) } });
    // The member's reply in the thread ends the wait, not another member's (the run refuses it) nor a forged one.
    // As a mail client answers: In-Reply-To the ready mail, References the whole thread (the request first).
    await reply(bruno!.email, ready, 'Install done!');
    await reply(alice!.email, ready, "C'est fait", 'mallory@evil.invalid');
    const refused = await eventually('both replies refused', async () => {
      const r = (await intakeReplies()).filter((x) => x.onboarding === handle.workflowId);
      return r.length === 2 ? r : undefined;
    }, 30_000);
    expect(refused.map((r) => r.outcome)).toEqual(['refused', 'refused']);
    expect(refused[0]!.why).toMatch(/not from this run's member/);
    expect(refused[1]!.why).toMatch(/not DKIM-signed by lab\.invalid/);
    await waitingFor(handle, installDoneUpdate.name);
    await reply(alice!.email, ready, 'Install done, merci !\n\n> Votre VM est prête');
    const result = (await handle.result()) as VmOnboardingResult;
    expect((await intakeReplies()).filter((x) => x.onboarding === handle.workflowId).map((r) => r.outcome)).toEqual(['refused', 'refused', 'delivered']);
    expect(result).toMatchObject({ reference: 'REF-HOST-VM-8', ip: '192.0.2.2', vncPort: vm.networkPort, installDoneBy: alice!.name, approvedBy: [expect.objectContaining({ by: chloe!.name })] });
    expect(Object.values(result.outcomes).every((o) => o === 'done')).toBe(true);
    expect(instances().find((i) => i.name === vm.name)).toMatchObject({ status: 'running', bootOrder: 'disk', bootedFrom: 'disk' });
    expect(result.mails.map((m) => m.subject)).toEqual(['Votre VM REF-HOST-VM-8 est prête à être installée', 'Votre VM REF-HOST-VM-8 démarre maintenant sur son disque']);
    await labMail.smtp.waitFor((m) => m.to.includes(alice!.email) && m.subject.includes('démarre maintenant'));
    // Every command of the plan ran on its host, as shown.
    for (const step of plan.steps) expect(lab.audit(step.host).some((e) => e.command === step.command && e.exitCode === 0), step.command).toBe(true);
    await recordHistory(handle, 'vmOnboarding', codecKeyFile);
    // The intake's history with the replies (refused, delivered) replays too: stopped here, the later cases need none.
    const intake = client.workflow.getHandle(mailIntakeWorkflowId(TASK_QUEUE));
    await intake.terminate('replies recorded');
    await recordHistory(intake, 'mailIntake-replies', codecKeyFile);
    // The member's tunnel, as the mail says, through the jailed account on the hypervisor's real sshd (its members'
    // sshd, lab/members-sshd.ts): their console answers, nothing else does; another key is refused.
    const session = await memberLogin(lab.inventory, primary, 'ref-host-vm-8', join(dir, 'alice_ed25519'));
    expect(session.banner).toContain(`Port VNC pour accéder à votre VM : ${vm.networkPort}`);
    expect(await forwardReads(session.client, 'localhost', vm.networkPort)).toBe(RFB_GREETING);
    await expect(forwardReads(session.client, 'localhost', 22)).rejects.toThrow(/administratively prohibited/);
    expect(await tryExec(session.client, 'id')).toEqual({ code: 1, output: '' });
    expect(await tryExec(session.client, null, true)).toMatchObject({ refused: expect.any(String) });
    session.client.end();
    memberKey('stranger');
    await expect(memberLogin(lab.inventory, primary, 'ref-host-vm-8', join(dir, 'stranger_ed25519'))).rejects.toThrow(/authentication methods failed/);
  }, 60_000);

  it('ends with one instance when the worker is killed during gnt-instance add', async () => {
    const handle = await start(bruno!.email, memberKey('bruno'), 'bruno-1');
    await approve(handle, david!.name);
    const added = () => lab.audit(MASTER).filter((e) => e.command.startsWith('systemd-run') && e.command.includes('ref-host-vm-9.lab.invalid'));
    await eventually('gnt-instance add started', () => added().length === 1 || undefined, 30_000);
    worker.kill('SIGKILL');
    await worker.stopped;
    expect(instances().find((i) => i.name === 'ref-host-vm-9.lab.invalid')?.readyAt).toBeDefined();
    worker = await startWorker();
    await waitingFor(handle, installDoneUpdate.name);
    await handle.executeUpdate(installDoneUpdate, { args: [{ by: ADMIN.name }] });
    const result = (await handle.result()) as VmOnboardingResult;
    expect(result.reference).toBe('REF-HOST-VM-9');
    expect(instances().filter((i) => i.name === 'ref-host-vm-9.lab.invalid')).toHaveLength(1);
    expect(added()).toHaveLength(1);
    expect(instances().find((i) => i.name === 'ref-host-vm-9.lab.invalid')).toMatchObject({ bootOrder: 'disk', status: 'running' });
  }, 90_000);

  it('puts the previous sshd_config back when sshd -t refuses it, never reloads, and asks a person', async () => {
    const handle = await start(alice!.email, memberKey('alice2'), 'alice-2');
    await waitingFor(handle, approveUpdate.name);
    const primary = ((await handle.query(planQuery))!.facts as { primary: string }).primary;
    // Someone left a broken block in the file (never reloaded): the new file fails sshd -t.
    const broken = lab.update<GanetiNodeState, string>(primary, (s) => (s.sshFiles![SSHD_CONFIG] += 'Match User old-member\n    PermitOpen localhost:nowhere\n'));
    const reloads = node(primary).sshReloads;
    const running = node(primary).sshdRunning;
    await handle.executeUpdate(approveUpdate, { args: [{ by: chloe!.name }] });
    await waitingFor(handle, decideUpdate.name);
    expect(node(primary).sshFiles![SSHD_CONFIG]).toBe(broken);
    expect(node(primary).sshReloads).toBe(reloads);
    expect(node(primary).sshdRunning).toBe(running);
    const mail = await labMail.smtp.waitFor((m) => m.subject.includes(`${primary}: tee /etc/ssh/sshd_config failed`));
    expect(mail.text).toContain('sshd -t refused');
    await handle.executeUpdate(decideUpdate, { args: [{ by: ADMIN.name, decision: 'abort', comment: 'fix the old block first' }] });
    await expect(handle.result()).rejects.toThrow();
    expect(node(primary).sshFiles![SSHD_CONFIG]).toBe(broken);
    expect(node(primary).sshReloads).toBe(reloads);
  }, 60_000);
});
