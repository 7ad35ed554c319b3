/**
 * The lab's mail and DNS, as an association has them: the SMTP sink (mailbox.ts) that also plays the members'
 * outgoing server (it DKIM-signs their mail) and delivers mail for the request address into Dovecot's Maildir;
 * Knot serving the lab zone with the DKIM key, SPF and DMARC records; and the inventory sections pointing at them
 * (mail.requests, dns, people).
 *
 * Addresses: Knot on 127.0.<subnet>.2:53, Dovecot on 127.0.<subnet>.3:143 (the hosts start at .10).
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dkimSign } from 'mailauth';
import type { Person } from '../common/inventory.js';
import { startDovecot, type Dovecot } from './dovecot.js';
import { startKnot, type Knot } from './knot.js';
import { LAB_MAIL, startLabMailbox, type Mailbox, type ReceivedMail } from './mailbox.js';

export const LAB_ZONE = 'lab.invalid';
export const DKIM_SELECTOR = 'lab';
export const REQUEST_USER = 'bureau';
export const REQUEST_ADDRESS = `${REQUEST_USER}@${LAB_ZONE}`;

/** The lab association's people: two members (one with a subscription), two board members, the admins. */
export const LAB_PEOPLE: Person[] = [
  { name: 'Alice Martin', email: `alice@${LAB_ZONE}`, roles: ['member'] },
  { name: 'Bruno Petit', email: `bruno@${LAB_ZONE}`, roles: ['member'], ref: 'REF-HOST-VM-7' },
  { name: 'Chloé Bernard', email: `chloe@${LAB_ZONE}`, roles: ['board'] },
  { name: 'David Roux', email: `david@${LAB_ZONE}`, roles: ['board'] },
  { name: 'Lab admins', email: LAB_MAIL.admins[0]!, roles: ['admin'] },
];

export interface LabMail {
  smtp: Mailbox;
  imap: Dovecot;
  dns: Knot;
  stop(): Promise<void>;
}

/** The lab domain's DKIM key (RSA 2048, kept in the lab folder) and its DNS TXT value. */
function dkimKey(dir: string): { privateKey: string; txt: string } {
  mkdirSync(join(dir, 'keys'), { recursive: true });
  const file = join(dir, 'keys', 'dkim-lab.pem');
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  const privateKey = readFileSync(file, 'utf8');
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).toString('base64');
  return { privateKey, txt: `v=DKIM1; k=rsa; p=${spki}` };
}

/** The address in a From header: `Name <a@b>` or `a@b`; undefined for anything else (several, none). */
function fromAddress(header: string | undefined): string | undefined {
  const m = /^(?:[^<>,]*<([^<>\s,]+@[^<>\s,]+)>|([^<>\s,"]+@[^<>\s,"]+))$/.exec((header ?? '').trim());
  return (m?.[1] ?? m?.[2])?.toLowerCase();
}

/**
 * Start Knot, Dovecot and the SMTP sink for the lab in `dir` (subnet as the hosts'), and add the request
 * mailbox, DNS and people to the lab's inventory file.
 */
export async function startLabMail(opts: { dir: string; subnet: number; inventoryPath: string; log?: (line: string) => void; fresh?: boolean }): Promise<LabMail> {
  // A fresh lab forgets the records runbooks added and the requests waiting, as it forgets the hosts' state.
  if (opts.fresh) for (const sub of ['dns', 'imap']) rmSync(join(opts.dir, sub), { recursive: true, force: true });
  const key = dkimKey(opts.dir);
  const dns = await startKnot({
    dir: opts.dir, address: `127.0.${opts.subnet}.2`, zone: LAB_ZONE,
    records: [
      { name: '@', type: 'TXT', value: 'v=spf1 ip4:127.0.0.0/8 -all' },
      { name: '_dmarc', type: 'TXT', value: 'v=DMARC1; p=reject' },
      { name: `${DKIM_SELECTOR}._domainkey`, type: 'TXT', value: key.txt },
    ],
  });
  let imap: Dovecot | undefined;
  try {
    imap = await startDovecot({ dir: opts.dir, address: `127.0.${opts.subnet}.3`, users: [REQUEST_USER] });
    const box = imap;
    const smtp = await startLabMailbox({
      dir: join(opts.dir, 'mail'),
      inventoryPath: opts.inventoryPath,
      ...(opts.log ? { log: opts.log } : {}),
      deliver: (mail, client) => deliverRequest(mail, client, box, key.privateKey),
      mail: {
        requests: {
          address: REQUEST_ADDRESS,
          resolver: { server: dns.host, port: dns.port },
          imap: { host: box.host, port: box.port, tls: false, user: REQUEST_USER, passFile: box.passFile(REQUEST_USER), folder: 'INBOX', doneFolder: 'Processed' },
        },
      },
      sections: {
        dns: { server: dns.host, port: dns.port, zone: LAB_ZONE, tsigKeyFile: dns.tsig.keyFile },
        people: LAB_PEOPLE,
        ...memberVmsOf(opts.inventoryPath),
      },
    });
    return {
      smtp, imap: box, dns,
      async stop() { await smtp.stop(); await box.stop(); await dns.stop(); },
    };
  } catch (error) {
    await imap?.stop();
    await dns.stop();
    throw error;
  }
}

/**
 * A lab with a Ganeti cluster (else a Proxmox one: the page's bridge, storage classes and an installer ISO) serves
 * the members' VMs (vmOnboarding): its address plan (TEST-NET-1, the gateway reserved) and the board's approval of
 * each VM.
 */
function memberVmsOf(inventoryPath: string): Record<string, unknown> {
  const raw = JSON.parse(readFileSync(inventoryPath, 'utf8')) as { clusters?: { name: string; kind: string }[]; approvals?: { runbooks?: Record<string, unknown> } };
  const ganeti = raw.clusters?.find((c) => c.kind === 'ganeti');
  const pve = ganeti ? undefined : raw.clusters?.find((c) => c.kind === 'proxmox');
  const served = ganeti ?? pve;
  if (!served) return {};
  const plan = { cluster: served.name, network: '192.0.2.0/28', reserved: ['192.0.2.1'] };
  return {
    memberVms: ganeti
      ? { platform: 'ganeti', ...plan }
      : { platform: 'proxmox', ...plan, proxmox: { bridge: 'vmbr3', storages: ['lvm_noluks_shared', 'lvmthin_luks_local'], iso: 'local:iso/debian-12.8.0-amd64-netinst.iso' } },
    approvals: { ...raw.approvals, runbooks: { ...raw.approvals?.runbooks, vmOnboarding: { roles: ['board'] } } },
  };
}

/**
 * Mail for the request address goes into its Maildir, as the association's MX would put it: a Return-Path and a
 * Received header (what SPF is checked against), and, for mail of the lab domain sent by its own address with no
 * signature yet, the lab domain's DKIM signature (the members' outgoing server signs their mail).
 */
async function deliverRequest(mail: ReceivedMail, client: { address: string; helo: string }, box: Dovecot, privateKey: string): Promise<void> {
  if (!mail.to.some((to) => to.toLowerCase() === REQUEST_ADDRESS)) return;
  let raw = mail.raw;
  const from = fromAddress(mail.headers.from);
  if (from && from === mail.from.toLowerCase() && from.endsWith(`@${LAB_ZONE}`) && !('dkim-signature' in mail.headers)) {
    const signer = { signingDomain: LAB_ZONE, selector: DKIM_SELECTOR, privateKey, canonicalization: 'relaxed/relaxed' };
    // mailauth reads the keys from signatureData (its top-level fields alone sign nothing).
    const signed = await dkimSign(raw, { ...signer, signatureData: [signer] });
    if (signed.errors.length || !signed.signatures.startsWith('DKIM-Signature:')) throw signed.errors[0] ?? new Error('DKIM signing produced no signature');
    raw = Buffer.concat([Buffer.from(signed.signatures), raw]);
  }
  const ip = client.address.replace(/^::ffff:/, '');
  const trace = [
    `Return-Path: <${mail.from}>`,
    `Received: from ${client.helo || 'unknown'} (${client.helo || 'unknown'} [${ip}])`,
    `\tby mx.${LAB_ZONE} (runbooks lab) with ESMTP`,
    `\tfor <${REQUEST_ADDRESS}>; ${new Date().toUTCString().replace('GMT', '+0000')}`,
    '',
  ].join('\r\n');
  box.deliver(REQUEST_USER, Buffer.concat([Buffer.from(trace), raw]));
}
