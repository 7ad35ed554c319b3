// The mail intake end to end: real Dovecot, Knot and SMTP sink (the lab's), the real worker process, the suite's
// real Temporal dev server. Mail sent to the request address ends as one vmRequest run per Message-ID.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { requestWorkflowId } from '../activities/request-mail.js';
import { LAB_PEOPLE, REQUEST_ADDRESS, startLabMail, type LabMail } from '../lab/mail-services.js';
import type { ReceivedMail } from '../lab/mailbox.js';
import { mailIntakeStatusQuery } from '../workflows/mailIntake.js';
import { onboardingWorkflowId, type VmRequestResult } from '../workflows/vmRequest.js';
import { mailIntakeWorkflowId } from '../worker/main.js';
import { hostileRequestMails } from './helpers/hostile-corpus.js';
import { codecClient, eventually, recordHistory, tempDir } from './helpers/runbooks.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';

const LAB_MEMBERS = LAB_PEOPLE.filter((p) => p.roles.includes('member'));
const LAB_BOARD = LAB_PEOPLE.filter((p) => p.roles.includes('board'));

const address = inject('temporalAddress');
const TASK_QUEUE = `runbooks-intake-${process.pid}`;
const SUBNET = 232;
const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const alice = LAB_MEMBERS[0]!;
const bruno = LAB_MEMBERS[1]!;

let dir: string;
let labMail: LabMail;
let worker: WorkerProcess | undefined;
let client: Client;
let codecKeyFile: string;

function sshKey(name: string) {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@laptop`, '-f', path]);
  const fingerprint = execFileSync('ssh-keygen', ['-lf', `${path}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { line: readFileSync(`${path}.pub`, 'utf8').trim(), privateKey: readFileSync(path, 'utf8'), fingerprint };
}

function send(message: Parameters<ReturnType<typeof createTransport>['sendMail']>[0]) {
  return createTransport({ host: '127.0.0.1', port: labMail.smtp.port, secure: false, ignoreTLS: true }).sendMail(message);
}

/** The finished vmRequest run of a Message-ID (the id the intake derives from it). */
function resultOf(messageId: string): Promise<VmRequestResult> {
  const handle = client.workflow.getHandle(requestWorkflowId(messageId, Buffer.alloc(0)));
  return eventually(`the vmRequest run of ${messageId}`, () => handle.result().catch(() => undefined), 90_000) as Promise<VmRequestResult>;
}

const boardMails = (pattern: RegExp): ReceivedMail[] =>
  labMail.smtp.messages().filter((m) => m.to.includes(LAB_BOARD[0]!.email) && pattern.test(m.text));

beforeAll(async () => {
  dir = tempDir('intake');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'worker_key')]);
  const inventoryPath = join(dir, 'inventory.json');
  writeFileSync(inventoryPath, JSON.stringify({
    simulated: true, ssh: { privateKeyPath: join(dir, 'worker_key') },
    hosts: [{ name: 'gnt-master', address: `127.0.${SUBNET}.10`, kind: 'ganeti-master', hostKeys: { openssh: HOST_KEY } }],
  }));
  labMail = await startLabMail({ dir, subnet: SUBNET, inventoryPath, log: () => undefined });
  codecKeyFile = writeTestCodecKey(dir);
  client = await codecClient(address, codecKeyFile);
  // Polling every second for the test; the worker finds it running and starts no other.
  await client.workflow.start('mailIntake', { taskQueue: TASK_QUEUE, workflowId: mailIntakeWorkflowId(TASK_QUEUE), args: [{ pollEvery: '1 second', pollsPerRun: 20 }] });
  worker = await startWorkerProcess({ address, inventoryPath, codecKeyFile, taskQueue: TASK_QUEUE, logFile: join(dir, 'worker.log') });
});

afterAll(async () => {
  await client?.workflow.getHandle(mailIntakeWorkflowId(TASK_QUEUE)).terminate('test over').catch(() => undefined);
  worker?.kill('SIGTERM');
  await worker?.stopped;
  await client?.connection.close();
  await labMail?.stop();
});

describe('mail intake', () => {
  it('a DKIM-signed member request with an ed25519 key ends as one vmRequest, verdict ok, with the fingerprint; the board is mailed', async () => {
    const key = sshKey('alice');
    await send({
      from: `${alice.name} <${alice.email}>`, to: REQUEST_ADDRESS, subject: 'Demande de VM', messageId: '<alice-vm@lab.invalid>',
      text: 'Bonjour, je voudrais une VM.', attachments: [{ filename: 'id_ed25519.pub', content: `${key.line}\n` }],
    });
    const result = await resultOf('<alice-vm@lab.invalid>');
    expect(result).toMatchObject({
      verdict: 'ok', reasons: [], member: { name: alice.name, email: alice.email }, auth: { dkim: 'pass (lab.invalid)', spf: 'pass', dmarc: 'pass' },
      key: { type: 'ssh-ed25519', bits: 256, fingerprint: key.fingerprint }, mails: [{ to: 'board', sent: true }],
    });
    const mail = await labMail.smtp.waitFor((m) => m.subject.includes('VM request from Alice Martin: ok'), 30_000);
    expect(mail.to).toEqual(LAB_BOARD.map((p) => p.email));
    expect(mail.text).toContain(key.fingerprint);
    expect(mail.text).toContain('Mail checks: DKIM pass (lab.invalid); SPF pass; DMARC pass');
    // The ok request started its onboarding run, named after the request (it waits for the board from there).
    const onboarding = onboardingWorkflowId(requestWorkflowId('<alice-vm@lab.invalid>', Buffer.alloc(0)));
    expect(result.onboarding).toEqual({ workflowId: onboarding, started: true });
    expect(mail.text).toContain(`npx runbook approve ${onboarding} --by NAME`);
    expect((await client.workflow.getHandle(onboarding).describe()).type).toBe('vmOnboarding');
    await recordHistory(client.workflow.getHandle(requestWorkflowId('<alice-vm@lab.invalid>', Buffer.alloc(0))), 'vmRequest-ok', codecKeyFile);
  });

  it('the same message delivered twice and polled again starts one run', async () => {
    const key = sshKey('bruno');
    const message = { from: bruno.email, to: REQUEST_ADDRESS, messageId: '<bruno-twice@lab.invalid>', text: key.line };
    await send(message);
    await resultOf('<bruno-twice@lab.invalid>');
    await send(message); // a duplicate delivery, after the first was filed
    const intake = client.workflow.getHandle(mailIntakeWorkflowId(TASK_QUEUE));
    const id = requestWorkflowId('<bruno-twice@lab.invalid>', Buffer.alloc(0));
    await eventually('the duplicate to be seen and filed', async () => (await intake.query(mailIntakeStatusQuery)).alreadyStarted.includes(id) || undefined, 60_000);
    // Visibility lags behind the server: wait until the run is listed, then count.
    const runs = await eventually('the run to be listed', async () => {
      const found: string[] = [];
      for await (const w of client.workflow.list({ query: `WorkflowId = '${id}'` })) found.push(w.runId);
      return found.length ? found : undefined;
    }, 30_000);
    expect(runs).toHaveLength(1);
    expect(boardMails(/bruno-twice/)).toHaveLength(1);
  });

  it('spoofed requests are unverified, with the reason, and so are non-members', async () => {
    const key = sshKey('mallory');
    await send({ envelope: { from: 'mallory@evil.invalid', to: REQUEST_ADDRESS }, from: alice.email, to: REQUEST_ADDRESS, messageId: '<forged-from@evil.invalid>', text: key.line });
    await send({ from: 'eve@lab.invalid', to: REQUEST_ADDRESS, messageId: '<eve-vm@lab.invalid>', text: key.line });
    expect(await resultOf('<forged-from@evil.invalid>')).toMatchObject({ verdict: 'unverified', reasons: [expect.stringMatching(/not authenticated: DMARC fail/)] });
    expect(await resultOf('<eve-vm@lab.invalid>')).toMatchObject({ verdict: 'unverified', reasons: ['eve@lab.invalid is not in the member list'] });
    await labMail.smtp.waitFor((m) => m.subject.includes('VM request from eve@lab.invalid: unverified') && m.text.includes('not in the member list'), 30_000);
  });

  it('a private key is refused and the member is told to revoke it', async () => {
    const key = sshKey('leaked');
    await send({ from: alice.email, to: REQUEST_ADDRESS, messageId: '<alice-private@lab.invalid>', text: 'ma clé', attachments: [{ filename: 'id_ed25519', content: key.privateKey }] });
    const result = await resultOf('<alice-private@lab.invalid>');
    expect(result).toMatchObject({ verdict: 'refused', reasons: [expect.stringMatching(/PRIVATE SSH key/)] });
    expect(result.mails.map((m) => m.to)).toEqual([alice.email, 'board']);
    await recordHistory(client.workflow.getHandle(requestWorkflowId('<alice-private@lab.invalid>', Buffer.alloc(0))), 'vmRequest-private-key', codecKeyFile);
    const told = await labMail.smtp.waitFor((m) => m.to.includes(alice.email) && /revoke/.test(m.subject), 30_000);
    expect(told.headers['in-reply-to']).toBe('<alice-private@lab.invalid>');
    // The key itself is in no mail we sent.
    const keyBody = key.privateKey.split('\n')[1]!;
    expect(labMail.smtp.messages().filter((m) => m.from !== alice.email).some((m) => m.raw.includes(keyBody))).toBe(false);
  });

  it('hostile mail starts no host change, records the reason, and the mailbox keeps working', async () => {
    const key = sshKey('hostile');
    const cases = hostileRequestMails({ member: alice.email, to: REQUEST_ADDRESS, key: key.line, privateKey: key.privateKey });
    for (const c of cases) await send({ envelope: { from: alice.email, to: REQUEST_ADDRESS }, raw: c.raw });
    for (const c of cases) {
      const messageId = /^Message-ID: (.*)$/m.exec(c.raw)![1]!.trim();
      const result = await resultOf(messageId);
      expect(result, c.label).toMatchObject({ verdict: 'refused', reasons: expect.arrayContaining([expect.stringMatching(c.reason)]) });
      // vmRequest only mails: no activity of a host-changing kind ran.
      const history = await client.workflow.getHandle(requestWorkflowId(messageId, Buffer.alloc(0))).fetchHistory();
      const activities = history.events!.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType!.name!] : []));
      expect(activities.every((a) => a === 'mailBoard' || a === 'mailMember'), `${c.label}: ${activities}`).toBe(true);
    }
    await send({ from: alice.email, to: REQUEST_ADDRESS, messageId: '<alice-after-hostile@lab.invalid>', text: key.line });
    expect(await resultOf('<alice-after-hostile@lab.invalid>')).toMatchObject({ verdict: 'ok' });
    const status = await client.workflow.getHandle(mailIntakeWorkflowId(TASK_QUEUE)).query(mailIntakeStatusQuery);
    expect(status.lastError).toBeUndefined();
  });

  it('automatic mail (our own to a board that is the request list, bounces) is filed without a run: no mail loop', async () => {
    await send({ from: 'runbooks@lab.invalid', to: REQUEST_ADDRESS, messageId: '<own-board-mail@runbooks>', subject: '[runbook] VM request', text: 'x', headers: { 'Auto-Submitted': 'auto-generated' } });
    await send({ envelope: { from: '', to: REQUEST_ADDRESS }, from: 'MAILER-DAEMON@lab.invalid', to: REQUEST_ADDRESS, messageId: '<bounce@lab.invalid>', text: 'undeliverable' });
    const intake = client.workflow.getHandle(mailIntakeWorkflowId(TASK_QUEUE));
    const ids = ['<own-board-mail@runbooks>', '<bounce@lab.invalid>'].map((m) => requestWorkflowId(m, Buffer.alloc(0)));
    const status = await eventually('both to be filed', async () => {
      const s = await intake.query(mailIntakeStatusQuery);
      return ids.every((id) => s.ignored.some((i) => i.workflowId === id)) ? s : undefined;
    }, 60_000);
    expect(status.ignored.find((i) => i.workflowId === ids[0])!.why).toMatch(/Auto-Submitted: auto-generated/);
    expect(status.ignored.find((i) => i.workflowId === ids[1])!.why).toMatch(/bounce/);
    for (const id of ids) await expect(client.workflow.getHandle(id).describe()).rejects.toThrow(/not found/i);
  });

  it('a reply in an onboarding thread starts no run and is recorded; a reply in another thread is judged as a request', async () => {
    const onboarding = onboardingWorkflowId(requestWorkflowId('<alice-vm@lab.invalid>', Buffer.alloc(0)));
    const thread = { inReplyTo: '<alice-vm@lab.invalid>', references: ['<alice-vm@lab.invalid>'] };
    // This lab has no members' cluster: alice's onboarding run did not get to its wait, so nothing is delivered.
    await send({ from: alice.email, to: REQUEST_ADDRESS, messageId: '<alice-reply@lab.invalid>', text: 'install done', ...thread });
    await send({ from: bruno.email, to: REQUEST_ADDRESS, messageId: '<bruno-elsewhere@lab.invalid>', text: 'install done', inReplyTo: '<some-list-thread@lab.invalid>' });
    const intake = client.workflow.getHandle(mailIntakeWorkflowId(TASK_QUEUE));
    const status = await eventually('the reply to be recorded and the other mail to start its run', async () => {
      const s = await intake.query(mailIntakeStatusQuery);
      return s.replies.some((r) => r.workflowId === requestWorkflowId('<alice-reply@lab.invalid>', Buffer.alloc(0))) && s.started.includes(requestWorkflowId('<bruno-elsewhere@lab.invalid>', Buffer.alloc(0))) ? s : undefined;
    }, 60_000);
    expect(status.replies.find((r) => r.onboarding === onboarding)).toMatchObject({ outcome: 'refused', why: expect.stringMatching(/onboarding run is|not waiting/) });
    await expect(client.workflow.getHandle(requestWorkflowId('<alice-reply@lab.invalid>', Buffer.alloc(0))).describe()).rejects.toThrow(/not found/i);
    expect((await resultOf('<bruno-elsewhere@lab.invalid>')).verdict).toBe('refused');
  });

  it('the intake continues as new after its polls, so its history stays short', async () => {
    const workflowId = `mail-intake-cycle-${process.pid}`;
    const first = await client.workflow.start('mailIntake', { taskQueue: TASK_QUEUE, workflowId, args: [{ pollEvery: '1 second', pollsPerRun: 2 }] });
    const firstRun = client.workflow.getHandle(workflowId, first.firstExecutionRunId);
    await eventually('the first run to continue as new', async () => (await firstRun.describe()).status.name === 'CONTINUED_AS_NEW' || undefined, 60_000);
    await recordHistory(firstRun, 'mailIntake-cycle', codecKeyFile);
    await client.workflow.getHandle(workflowId).terminate('test over');
  });
});
