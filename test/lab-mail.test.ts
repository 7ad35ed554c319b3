// The lab's mail and DNS, real: the SMTP sink signs and delivers into Dovecot, the intake reads it over IMAP and
// judges it with mailauth against Knot; DNS records by TSIG-signed RFC 2136 updates to Knot.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsActivities } from '../activities/dns.js';
import { intakeActivities } from '../activities/intake.js';
import { loadInventory, type Inventory } from '../common/inventory.js';
import { judgeKeyTexts } from '../common/ssh-public-key.js';
import { startDovecot } from '../lab/dovecot.js';
import { startKnot } from '../lab/knot.js';
import { LAB_PEOPLE, REQUEST_ADDRESS, startLabMail, type LabMail } from '../lab/mail-services.js';
import { hostileRequestMails, requestMail } from './helpers/hostile-corpus.js';
import { tempDir } from './helpers/runbooks.js';

const LAB_MEMBERS = LAB_PEOPLE.filter((p) => p.roles.includes('member'));

const SUBNET = 231;
const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
let dir: string;
let labMail: LabMail;
let inventory: Inventory;
const alice = LAB_MEMBERS[0]!;

/** A key pair made by the real ssh-keygen: its public line, private file and fingerprint as ssh-keygen prints it. */
export function sshKey(dirPath: string, name: string, type: 'ed25519' | 'rsa' | 'ecdsa', bits?: number) {
  const path = join(dirPath, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', `${name}@laptop`, '-f', path]);
  const fingerprint = execFileSync('ssh-keygen', ['-lf', `${path}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { line: readFileSync(`${path}.pub`, 'utf8').trim(), privateKey: readFileSync(path, 'utf8'), fingerprint };
}

function smtp() {
  return createTransport({ host: '127.0.0.1', port: labMail.smtp.port, secure: false, ignoreTLS: true });
}

/** Every message of the request folder and the done folder, by Message-ID. */
async function folders(): Promise<{ inbox: string[]; done: string[] }> {
  const imap = inventory.mail!.requests!.imap;
  const client = new ImapFlow({ host: imap.host, port: imap.port, secure: false, auth: { user: imap.user, pass: readFileSync(imap.passFile, 'utf8').trim() }, logger: false });
  await client.connect();
  const ids = async (folder: string) => {
    const out: string[] = [];
    const lock = await client.getMailboxLock(folder).catch(() => undefined);
    if (!lock) return out;
    try {
      if (client.mailbox && client.mailbox.exists) for await (const m of client.fetch('1:*', { envelope: true })) out.push(m.envelope?.messageId ?? '');
    } finally {
      lock.release();
    }
    return out;
  };
  const result = { inbox: await ids('INBOX'), done: await ids('Processed') };
  await client.logout();
  return result;
}

beforeAll(async () => {
  dir = tempDir('lab-mail');
  const inventoryPath = join(dir, 'inventory.json');
  writeFileSync(inventoryPath, JSON.stringify({
    simulated: true, ssh: { privateKeyPath: join(dir, 'none') },
    hosts: [{ name: 'gnt-master', address: `127.0.${SUBNET}.10`, kind: 'ganeti-master', hostKeys: { openssh: HOST_KEY } }],
  }));
  labMail = await startLabMail({ dir, subnet: SUBNET, inventoryPath, log: () => undefined });
  inventory = loadInventory(inventoryPath);
});

afterAll(async () => {
  await labMail?.stop();
});

describe('the lab zone', () => {
  it('serves the DKIM key, SPF and DMARC records for lab.invalid on its loopback address', async () => {
    const resolver = new Resolver();
    resolver.setServers([`${inventory.dns!.server}:${inventory.dns!.port}`]);
    expect(inventory.dns!.server).toBe(`127.0.${SUBNET}.2`);
    expect((await resolver.resolveTxt('lab._domainkey.lab.invalid'))[0]!.join('')).toMatch(/^v=DKIM1; k=rsa; p=MII/);
    expect((await resolver.resolveTxt('_dmarc.lab.invalid'))[0]!.join('')).toBe('v=DMARC1; p=reject');
    expect((await resolver.resolveTxt('lab.invalid'))[0]!.join('')).toBe('v=spf1 ip4:127.0.0.0/8 -all');
  });
});

describe('the lab daemons', () => {
  it('listen on loopback only', async () => {
    await expect(startDovecot({ dir, address: '0.0.0.0', users: ['bureau'] })).rejects.toThrow(/loopback only/);
    await expect(startKnot({ dir, address: '192.0.2.1', zone: 'lab.invalid', records: [] })).rejects.toThrow(/loopback only/);
  });
});

describe('ensureARecord (knsupdate with TSIG against the lab Knot)', () => {
  const dns = () => dnsActivities(inventory);

  it('adds the record, verified by a query; a second call changes nothing', async () => {
    expect(await dns().ensureARecord({ label: 'REF-HOST-VM-42', ip: '127.0.231.130' })).toEqual({ name: 'ref-host-vm-42.lab.invalid', ip: '127.0.231.130', changed: true });
    expect(await dns().ensureARecord({ label: 'REF-HOST-VM-42', ip: '127.0.231.130' })).toMatchObject({ changed: false });
    const resolver = new Resolver();
    resolver.setServers([`${inventory.dns!.server}:${inventory.dns!.port}`]);
    expect(await resolver.resolve4('ref-host-vm-42.lab.invalid')).toEqual(['127.0.231.130']);
    // Written back to the zone file in the lab folder: it outlives a restart of the lab.
    expect(readFileSync(join(dir, 'dns', 'lab.invalid.zone'), 'utf8')).toMatch(/ref-host-vm-42\.lab\.invalid\.\s+300\s+A\s+127\.0\.231\.130/);
  });

  it('never overwrites a name that points elsewhere, and refuses what is not a label or an address', async () => {
    await expect(dns().ensureARecord({ label: 'REF-HOST-VM-42', ip: '127.0.231.131' })).rejects.toMatchObject({ type: 'DnsConflict' });
    await expect(dns().ensureARecord({ label: 'a.b; update delete lab.invalid', ip: '127.0.231.1' })).rejects.toMatchObject({ type: 'InvalidInput' });
    await expect(dns().ensureARecord({ label: 'vm', ip: '127.0.231.1\nupdate delete lab.invalid.' })).rejects.toMatchObject({ type: 'InvalidInput' });
  });

  it('is refused by the server without the TSIG key', () => {
    const script = `server ${inventory.dns!.server} 53\nzone lab.invalid.\nupdate add rogue.lab.invalid. 60 A 127.0.0.9\nsend\n`;
    expect(() => execFileSync('knsupdate', [], { input: script, stdio: 'pipe' })).toThrow(/REFUSED|NOTAUTH/);
  });
});

describe('public keys', () => {
  it('takes ed25519, ecdsa and rsa >= 3072 with ssh-keygen\'s fingerprint; refuses rsa 2048', () => {
    for (const [type, bits] of [['ed25519', undefined], ['ecdsa', 384], ['rsa', 3072]] as const) {
      const key = sshKey(dir, `k-${type}`, type, bits);
      const verdict = judgeKeyTexts([`Bonjour,\n\n${key.line}\n`]);
      expect(verdict).toMatchObject({ ok: true, key: { fingerprint: key.fingerprint } });
    }
    const weak = sshKey(dir, 'k-rsa2048', 'rsa', 2048);
    expect(judgeKeyTexts([weak.line])).toMatchObject({ ok: false, reason: expect.stringMatching(/2048 bits: at least 3072/) });
  });
});

describe('the request mailbox', () => {
  it('a member\'s mail to the request address is DKIM-signed by the lab, lands in Dovecot and is judged ok with the key\'s fingerprint', async () => {
    const key = sshKey(dir, 'alice', 'ed25519');
    await smtp().sendMail({
      from: `${alice.name} <${alice.email}>`, to: REQUEST_ADDRESS, subject: 'Demande de VM', messageId: '<alice-1@lab.invalid>',
      text: 'Bonjour, voici ma clé.', attachments: [{ filename: 'id_ed25519.pub', content: `${key.line}\n` }],
    });
    const polled = await intakeActivities(inventory).pollRequests();
    expect(polled).toHaveLength(1);
    expect(polled[0]).toMatchObject({
      verdict: 'ok', reasons: [], member: { name: alice.name, email: alice.email }, messageId: '<alice-1@lab.invalid>',
      auth: { dkim: 'pass (lab.invalid)', spf: 'pass', dmarc: 'pass' },
      key: { type: 'ssh-ed25519', fingerprint: key.fingerprint },
    });
    // Reads only: until filed, the mail stays, and a second poll judges it the same, same workflow id.
    const again = await intakeActivities(inventory).pollRequests();
    expect(again.map((r) => r.workflowId)).toEqual([polled[0]!.workflowId]);
    expect(await intakeActivities(inventory).fileRequest(polled[0]!)).toEqual({ moved: true });
    expect(await intakeActivities(inventory).fileRequest(polled[0]!)).toEqual({ moved: false });
    expect(await folders()).toEqual({ inbox: [], done: ['<alice-1@lab.invalid>'] });
  });

  it('judges spoofed mail unverified, with the reason', async () => {
    const key = sshKey(dir, 'spoof', 'ed25519');
    // A forged From: the envelope is another domain's, so the lab does not sign it, and DMARC fails.
    await smtp().sendMail({ envelope: { from: 'mallory@evil.invalid', to: REQUEST_ADDRESS }, from: alice.email, to: REQUEST_ADDRESS, messageId: '<forged@evil.invalid>', text: key.line });
    // Signed by the lab, but not a member.
    await smtp().sendMail({ from: 'eve@lab.invalid', to: REQUEST_ADDRESS, messageId: '<eve@lab.invalid>', text: key.line });
    // A DKIM signature for lab.invalid made with another key.
    const { dkimSign } = await import('mailauth');
    const { generateKeyPairSync } = await import('node:crypto');
    const raw = requestMail({ from: alice.email, to: REQUEST_ADDRESS, messageId: '<bad-dkim@lab.invalid>', body: key.line });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const signer = { signingDomain: 'lab.invalid', selector: 'lab', privateKey: other };
    const signed = await dkimSign(raw, { ...signer, signatureData: [signer] });
    await smtp().sendMail({ envelope: { from: 'mallory@evil.invalid', to: REQUEST_ADDRESS }, raw: signed.signatures + raw });

    const polled = await intakeActivities(inventory).pollRequests();
    const by = (id: string) => polled.find((r) => r.messageId === id)!;
    expect(by('<forged@evil.invalid>')).toMatchObject({ verdict: 'unverified', reasons: [expect.stringMatching(/not authenticated: DMARC fail/)] });
    expect(by('<eve@lab.invalid>')).toMatchObject({ verdict: 'unverified', reasons: ['eve@lab.invalid is not in the member list'], auth: { dmarc: 'pass' } });
    expect(by('<bad-dkim@lab.invalid>')).toMatchObject({ verdict: 'unverified', auth: { dkim: expect.stringMatching(/^(fail|neutral)/) }, reasons: [expect.stringMatching(/DMARC fail/)] });
    for (const r of polled) await intakeActivities(inventory).fileRequest(r);
  });

  it('refuses malformed and hostile mail with the reason, and keeps working after', async () => {
    const key = sshKey(dir, 'hostile', 'ed25519');
    const cases = hostileRequestMails({ member: alice.email, to: REQUEST_ADDRESS, key: key.line, privateKey: key.privateKey });
    for (const c of cases) await smtp().sendMail({ envelope: { from: alice.email, to: REQUEST_ADDRESS }, raw: c.raw });
    const judged: Record<string, { verdict: string; reasons: string[]; privateKeySent: boolean }> = {};
    for (;;) {
      const polled = await intakeActivities(inventory).pollRequests();
      if (!polled.length) break;
      for (const r of polled) {
        const c = cases.find((x) => x.raw.includes(r.messageId))!;
        judged[c.label] = r;
        await intakeActivities(inventory).fileRequest(r);
      }
    }
    for (const c of cases) {
      expect(judged[c.label], c.label).toMatchObject({ verdict: 'refused', reasons: expect.arrayContaining([expect.stringMatching(c.reason)]) });
    }
    expect(judged['a private key']!.privateKeySent).toBe(true);
    // And the next good request goes through.
    await smtp().sendMail({ from: alice.email, to: REQUEST_ADDRESS, messageId: '<alice-after@lab.invalid>', text: key.line });
    expect(await intakeActivities(inventory).pollRequests()).toMatchObject([{ messageId: '<alice-after@lab.invalid>', verdict: 'ok' }]);
  });
});

describe('a lab restart', () => {
  it('keeps the zone\'s records and the mailbox; a fresh lab forgets both', async () => {
    const inventoryPath = join(dir, 'inventory.json');
    const resolver = new Resolver();
    resolver.setServers([`${inventory.dns!.server}:${inventory.dns!.port}`]);
    await labMail.stop();
    labMail = await startLabMail({ dir, subnet: SUBNET, inventoryPath, log: () => undefined });
    expect(await resolver.resolve4('ref-host-vm-42.lab.invalid')).toEqual(['127.0.231.130']);
    expect((await folders()).done).toContain('<alice-1@lab.invalid>');
    await labMail.stop();
    labMail = await startLabMail({ dir, subnet: SUBNET, inventoryPath, log: () => undefined, fresh: true });
    await expect(resolver.resolve4('ref-host-vm-42.lab.invalid')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(await folders()).toEqual({ inbox: [], done: [] });
    // Same DKIM key: the lab's signed mail still verifies.
    await smtp().sendMail({ from: alice.email, to: REQUEST_ADDRESS, messageId: '<alice-fresh@lab.invalid>', text: sshKey(dir, 'fresh', 'ed25519').line });
    expect(await intakeActivities(inventory).pollRequests()).toMatchObject([{ messageId: '<alice-fresh@lab.invalid>', verdict: 'ok' }]);
  });
});
