// mailAdmins over real SMTP: nodemailer talking to the lab's smtp-server mailbox on loopback.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { mailActivities, messageIdFor } from '../activities/mail.js';
import { loadInventory, parseInventory } from '../common/inventory.js';
import { decodeWords, LAB_MAIL, Mailbox, parseMessage, startLabMailbox, type Mailbox as RunningMailbox } from '../lab/mailbox.js';
import { tempDir } from './helpers/runbooks.js';

const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const ADMINS = ['camille@example.org', 'dominique@example.org'];
const PASSWORD = 'Sésame-ouvre-toi 42';

function inventory(mail: Record<string, unknown> | undefined, simulated = false) {
  return parseInventory({
    simulated,
    ssh: { privateKeyPath: '/nonexistent/id_ed25519' },
    hosts: [{ name: 'dom0-a', address: '192.0.2.10', kind: 'xen-dom0', hostKeys: { openssh: key } }],
    ...(mail ? { mail } : {}),
  });
}

const mailboxes: RunningMailbox[] = [];
async function mailbox(opts: Partial<Parameters<typeof Mailbox.start>[0]> = {}): Promise<RunningMailbox> {
  const box = await Mailbox.start({ host: '127.0.0.1', log: false, ...opts });
  mailboxes.push(box);
  return box;
}

afterEach(async () => {
  await Promise.all(mailboxes.splice(0).map((box) => box.stop()));
});

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApplicationFailure);
  return error as ApplicationFailure;
}

describe('mailAdmins', () => {
  it('delivers one message to every admin, accents intact, with a deterministic Message-ID', async () => {
    const dir = tempDir('mail');
    const lines: string[] = [];
    const box = await mailbox({ dir, log: (line) => lines.push(line) });
    const { mailAdmins } = mailActivities(inventory({ host: '127.0.0.1', port: box.port, from: 'runbooks@example.org', admins: ADMINS }));

    const text = 'Redémarrage planifié de dom0-a.\nRetirez le disque WD-WCC4N0XXXX (baie 0), gardez WD-WCC4N0YYYY.\n';
    const result = await mailAdmins({ subject: 'Redémarrage planifié', text, runbook: 'diskReplacement', workflowId: 'disk dom0-a' });

    expect(result).toMatchObject({ sent: true, to: ADMINS });
    expect(result.reason).toBeUndefined();
    expect(result.messageId).toMatch(/^<disk%20dom0-a\.[0-9a-f]{16}@runbooks>$/);
    const got = await box.waitFor((m) => m.messageId === result.messageId);
    expect(box.messages()).toHaveLength(1);
    expect(got.from).toBe('runbooks@example.org');
    expect(got.to).toEqual(ADMINS);
    expect(got.subject).toBe('[runbook] Redémarrage planifié');
    expect(got.text).toContain(text);
    expect(got.text).toContain('Runbook: diskReplacement');
    expect(got.text).toContain('Workflow: disk dom0-a');
    expect(got.text).toContain("Progress: npx runbook progress 'disk dom0-a'");
    expect(got.text).not.toContain('SIMULATED');
    expect(got.headers['auto-submitted']).toBe('auto-generated');
    expect(got.headers['x-runbook-workflow-id']).toBe('disk dom0-a');
    // Non-ASCII really went through a transfer encoding, and we decoded it.
    expect(got.raw.toString('latin1')).not.toContain('Redémarrage');

    // The same message sent again (a retry outside a worker) has the same Message-ID.
    const again = await mailAdmins({ subject: 'Redémarrage planifié', text, runbook: 'diskReplacement', workflowId: 'disk dom0-a' });
    expect(again.messageId).toBe(result.messageId);

    // The .eml files, one per message, and a line per message.
    const files = readdirSync(dir).filter((f) => f.endsWith('.eml')).sort();
    expect(files).toHaveLength(2);
    const eml = parseMessage(readFileSync(join(dir, files[0]!)));
    expect(eml).toMatchObject({ subject: '[runbook] Redémarrage planifié', messageId: result.messageId });
    expect(eml.text).toContain('Redémarrage planifié de dom0-a.');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('[runbook] Redémarrage planifié');
    expect(lines[0]).toContain(files[0]);
  });

  it('says loudly that the lab is simulated', async () => {
    const box = await mailbox();
    const { mailAdmins } = mailActivities(inventory({ host: '127.0.0.1', port: box.port, from: 'runbooks@lab.invalid', admins: ['admins@lab.invalid'] }, true));
    const result = await mailAdmins({ subject: 'Disque à remplacer sur dom0-a', text: 'Baie 0.' });
    expect(result.sent).toBe(true);
    const got = await box.waitFor(() => true);
    expect(got.subject).toBe('[runbook] [lab] Disque à remplacer sur dom0-a');
    expect(got.text.split('\n')[0]).toMatch(/^SIMULATED: this mail comes from the lab/);
  });

  it('keeps one Message-ID across the attempts of one activity, and a new one for another activity', async () => {
    const box = await mailbox();
    const { mailAdmins } = mailActivities(inventory({ host: '127.0.0.1', port: box.port, from: 'runbooks@example.org', admins: ADMINS }));
    const info = { workflowExecution: { workflowId: 'disk-dom0-a', runId: 'run-1' }, activityId: '7' };
    const message = { subject: 'Disque à remplacer', text: 'Baie 0.' };

    const first = await new MockActivityEnvironment({ ...info, attempt: 1 }).run(mailAdmins, message);
    const retried = await new MockActivityEnvironment({ ...info, attempt: 3 }).run(mailAdmins, message);
    const other = await new MockActivityEnvironment({ ...info, activityId: '8', attempt: 1 }).run(mailAdmins, message);

    expect(first.messageId).toBe('<disk-dom0-a.run-1.7@runbooks>');
    expect(retried.messageId).toBe(first.messageId);
    expect(other.messageId).toBe('<disk-dom0-a.run-1.8@runbooks>');
    await box.waitFor(() => box.messages().length === 3);
    expect(box.messages().map((m) => m.messageId)).toEqual([first.messageId, first.messageId, other.messageId]);
    // The activity's own workflow id wins over the one in the message.
    expect(messageIdFor({ ...message, workflowId: 'elsewhere' }, new MockActivityEnvironment(info).context)).toBe(first.messageId);
  });

  it('sends nothing, without failing, when nobody is configured', async () => {
    const box = await mailbox();
    const noAdmins = mailActivities(inventory({ host: '127.0.0.1', port: box.port, from: 'runbooks@example.org', admins: [] }));
    expect(await noAdmins.mailAdmins({ subject: 's', text: 't' })).toEqual({ sent: false, to: [], reason: expect.stringMatching(/no mail\.admins/) });
    const noMail = mailActivities(inventory(undefined));
    expect(await noMail.mailAdmins({ subject: 's', text: 't' })).toEqual({ sent: false, to: [], reason: expect.stringMatching(/no mail section/) });
    expect(box.messages()).toHaveLength(0);
  });

  it('logs in with the password read from passFile at send time', async () => {
    const dir = tempDir('mail-auth');
    const passFile = join(dir, 'smtp.pass');
    writeFileSync(passFile, 'wrong password\n', { mode: 0o600 });
    const box = await mailbox({ auth: { user: 'runbooks', pass: PASSWORD } });
    const { mailAdmins } = mailActivities(
      inventory({ host: '127.0.0.1', port: box.port, from: 'runbooks@example.org', admins: ADMINS, auth: { user: 'runbooks', passFile } }),
    );

    const refused = await failureOf(mailAdmins({ subject: 'Disque', text: 'Baie 0.' }));
    expect(refused.type).toBe('MailAuthFailed');
    expect(refused.nonRetryable).toBe(false);
    expect(refused.message).toMatch(/535/);
    expect(refused.message).not.toContain('wrong password');
    expect(refused.message).not.toContain(Buffer.from('\0runbooks\0wrong password').toString('base64'));

    // A person fixes the file; the next attempt (same worker, same transport) reads it again.
    writeFileSync(passFile, `${PASSWORD}\n`);
    const result = await mailAdmins({ subject: 'Disque', text: 'Baie 0.' });
    expect(result.sent).toBe(true);
    expect((await box.waitFor(() => true)).user).toBe('runbooks');
  });

  it('fails retryably when the SMTP server is down, without the password in the message', async () => {
    const dir = tempDir('mail-down');
    const passFile = join(dir, 'smtp.pass');
    writeFileSync(passFile, PASSWORD, { mode: 0o600 });
    const box = await mailbox();
    const port = box.port;
    await box.stop();
    const { mailAdmins } = mailActivities(
      inventory({ host: '127.0.0.1', port, from: 'runbooks@example.org', admins: ADMINS, auth: { user: 'runbooks', passFile } }),
    );
    const failure = await failureOf(mailAdmins({ subject: 'Disque', text: 'Baie 0.' }));
    expect(failure.type).toBe('MailTransportFailed');
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toContain(`SMTP 127.0.0.1:${port}`);
    expect(failure.message).toMatch(/ECONNREFUSED|connect/i);
    expect(failure.message).not.toContain(PASSWORD);
  });

  it('fails retryably when the password file is missing', async () => {
    const box = await mailbox({ auth: { user: 'runbooks', pass: PASSWORD } });
    const { mailAdmins } = mailActivities(
      inventory({ host: '127.0.0.1', port: box.port, from: 'runbooks@example.org', admins: ADMINS, auth: { user: 'runbooks', passFile: '/nonexistent/smtp.pass' } }),
    );
    const failure = await failureOf(mailAdmins({ subject: 'Disque', text: 'Baie 0.' }));
    expect(failure).toMatchObject({ type: 'MailPassFileUnreadable', nonRetryable: false });
    expect(failure.message).toContain('/nonexistent/smtp.pass');
  });
});

describe('lab mailbox', () => {
  it('for npm start: points the lab inventory at itself, and the worker\'s mail lands in .eml files', async () => {
    const dir = tempDir('lab-mail');
    const inventoryPath = join(dir, 'inventory.json');
    writeFileSync(inventoryPath, JSON.stringify(inventory(undefined, true)));
    const lines: string[] = [];
    const box = await startLabMailbox({ dir: join(dir, 'mail'), inventoryPath, log: (line) => lines.push(line) });
    mailboxes.push(box);

    const loaded = loadInventory(inventoryPath);
    expect(loaded.mail).toEqual({ host: '127.0.0.1', port: box.port, secure: false, ...LAB_MAIL });
    expect(loaded.hosts.map((h) => h.name)).toEqual(['dom0-a']);
    const result = await mailActivities(loaded).mailAdmins({ subject: 'Redémarrage planifié', text: 'dom0-a' });
    expect(result).toMatchObject({ sent: true, to: LAB_MAIL.admins });
    const got = await box.waitFor(() => true);
    expect(got.file).toMatch(/\/mail\/[^/]+\.eml$/);
    expect(parseMessage(readFileSync(got.file!)).subject).toBe('[runbook] [lab] Redémarrage planifié');
    expect(lines).toEqual([expect.stringContaining(got.file!)]);
  });

  it('refuses to listen beyond loopback', async () => {
    await expect(Mailbox.start({ host: '0.0.0.0' })).rejects.toThrow(/loopback only/);
  });

  it('decodes encoded words, base64 and multipart bodies', () => {
    expect(decodeWords('=?UTF-8?B?UmVkw6ltYXJyYWdl?= =?UTF-8?Q?_planifi=C3=A9?=')).toBe('Redémarrage planifié');
    expect(decodeWords('=?ISO-8859-1?Q?Red=E9marrage?= ok')).toBe('Redémarrage ok');
    const raw = [
      'Subject: =?utf-8?q?Red=C3=A9marrage?=',
      'Message-ID: <a@b>',
      'Content-Type: multipart/alternative; boundary="xx"',
      '',
      '--xx',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('Redémarrage planifié\r\n').toString('base64'),
      '--xx',
      'Content-Type: text/html',
      '',
      '<p>html</p>',
      '--xx--',
      '',
    ].join('\r\n');
    expect(parseMessage(Buffer.from(raw))).toMatchObject({ subject: 'Redémarrage', messageId: '<a@b>', text: 'Redémarrage planifié\n' });
  });
});
