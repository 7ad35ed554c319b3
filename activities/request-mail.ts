/**
 * One VM request mail, judged: who sent it (DKIM/SPF/DMARC by mailauth against our DNS, then the member list),
 * what it carries (one SSH public key), and whether it is sane at all (size, MIME structure, headers). The
 * verdict is data for the vmRequest runbook; nothing here touches a host, and nothing secret leaves it (a
 * private key found in the mail is only flagged).
 */
import { createHash } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import type { AddressObject } from 'mailparser';
import type { Person } from '../common/inventory.js';
import type { VmRequestInput } from '../common/requests.js';
import { judgeKeyTexts } from '../common/ssh-public-key.js';
import { singleLine } from '../common/validation.js';

/** A request is a short text and a .pub file: far above that, it is not a request. */
export const MAX_REQUEST_BYTES = 256 * 1024;
/** MIME parts (a MIME bomb nests or repeats them by the thousand). */
export const MAX_MIME_PARTS = 20;
const MAX_KEY_ATTACHMENT_BYTES = 16 * 1024;
/** Reasons kept per request (one per oversized attachment could be many). */
const MAX_REASONS = 10;

/** What the intake hands the request's run: common/requests.ts validates it again there. */
export type RequestMail = VmRequestInput;

/** The one place request ids are made: a second poll or a duplicate delivery gets the same id. */
export function requestWorkflowId(messageId: string | undefined, raw: Buffer): string {
  const basis = messageId?.trim() ? `message-id:${messageId.trim()}` : `message:${createHash('sha256').update(raw).digest('hex')}`;
  return `vm-request-${createHash('sha256').update(basis).digest('hex').slice(0, 32)}`;
}

/** A header value safe to show in a record and a mail: one printable line, bounded. */
function shown(value: string | undefined, max = 200): string {
  const text = (value ?? '').replace(/[^\x20-\x7e\u00a0-\u024f]/g, '?');
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

const SafeLine = singleLine(200);

/** mailauth's resolver interface: over a resolver that asks `server` only, or the system's resolver. */
export function dnsResolver(server?: { server: string; port: number }) {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  if (server) resolver.setServers([server.server.includes(':') ? `[${server.server}]:${server.port}` : `${server.server}:${server.port}`]);
  return (name: string, rrtype: string) => resolver.resolve(name, rrtype) as Promise<string[][] | string[]>;
}

export interface JudgeContext {
  members: Person[];
  resolver: ReturnType<typeof dnsResolver>;
}

/** The Message-ID in a header block (unfolded, white space removed), as every id here is made from. */
export function messageIdIn(head: string): string | undefined {
  return /^message-id:\s*(.*(?:\r?\n[ \t].*)*)/im.exec(head)?.[1]?.replace(/\s+/g, '');
}

/**
 * Why a mail is no request at all, or undefined: automatic mail (RFC 3834 Auto-Submitted other than "no": our own
 * mails to the board when the board's list is the request address, vacation replies, bounces) never starts a run,
 * or the intake would answer its own mail forever.
 */
export function notARequest(head: string, ownAddress: string | undefined): string | undefined {
  const auto = /^auto-submitted:\s*([^\s;]+)/im.exec(head)?.[1]?.toLowerCase();
  if (auto && auto !== 'no') return `automatic mail (Auto-Submitted: ${shown(auto, 40)})`;
  if (/^return-path:\s*<>/im.test(head)) return 'a bounce (empty Return-Path)';
  const from = /^from:.*<([^<>\s]+)>|^from:\s*([^<>\s]+@[^<>\s]+)\s*$/im.exec(head);
  if (ownAddress && (from?.[1] ?? from?.[2])?.toLowerCase() === ownAddress.toLowerCase()) return `mail from the runbooks themselves (${ownAddress})`;
  return undefined;
}

/** A request refused before it could be judged further (too large, unreadable): its id and the reason only. */
export function refusedRequest(messageId: string | undefined, basis: Buffer, reason: string): RequestMail {
  return {
    workflowId: requestWorkflowId(messageId, basis),
    messageId: shown(messageId),
    subject: '',
    verdict: 'refused',
    reasons: [reason],
    auth: { dkim: 'not checked', spf: 'not checked', dmarc: 'not checked' },
    privateKeySent: false,
  };
}

/** A message too large to download: judged on its Message-ID alone. */
export function judgeOversized(messageId: string | undefined, size: number, basis: Buffer): RequestMail {
  return refusedRequest(messageId, basis, `the mail is ${size} bytes: a request is at most ${MAX_REQUEST_BYTES} bytes (a text and a .pub file)`);
}

export async function judgeRequest(raw: Buffer, ctx: JudgeContext): Promise<RequestMail> {
  return (await judgeMail(raw, ctx)).request;
}

/** A mail judged as a request, with what a reply's judgment needs too: the domains whose DKIM signature passed, the text. */
export interface JudgedMail {
  request: RequestMail;
  dkimPassed: string[];
  text: string;
}

export async function judgeMail(raw: Buffer, ctx: JudgeContext): Promise<JudgedMail> {
  const headEnd = raw.indexOf('\r\n\r\n') >= 0 ? raw.indexOf('\r\n\r\n') : raw.indexOf('\n\n');
  const head = raw.subarray(0, headEnd >= 0 ? headEnd : raw.length).toString('latin1');
  const messageIdHeader = messageIdIn(head);
  const base = {
    workflowId: requestWorkflowId(messageIdHeader, raw),
    messageId: shown(messageIdHeader),
    subject: '',
    auth: { dkim: 'not checked', spf: 'not checked', dmarc: 'not checked' },
    privateKeySent: false,
  };
  const refuse = (reason: string, extra: Partial<RequestMail> = {}): JudgedMail =>
    ({ request: { ...base, ...extra, verdict: 'refused', reasons: [reason] }, dkimPassed: [], text: '' });

  if (raw.length > MAX_REQUEST_BYTES) return refuse(`the mail is ${raw.length} bytes: a request is at most ${MAX_REQUEST_BYTES} bytes`);
  // Counted on the raw text, before any parser walks the tree: every part has a Content-Type header.
  const parts = raw.toString('latin1').match(/^content-type:/gim)?.length ?? 0;
  if (parts > MAX_MIME_PARTS) return refuse(`the mail has ${parts} MIME parts: a request has at most ${MAX_MIME_PARTS}`);
  if ((head.match(/^from:/gim)?.length ?? 0) !== 1) return refuse('the mail must have exactly one From header');

  // The parser and the DKIM/SPF checks load on first use (~0.4 s of CPU a worker start would pay, mailbox or not).
  const [{ simpleParser }, { authenticate }] = await Promise.all([import('mailparser'), import('mailauth')]);
  const mail = await simpleParser(raw, { skipHtmlToText: true, skipImageLinks: true, skipTextLinks: true, maxHtmlLengthToParse: 0 });
  const subject = shown(mail.subject);
  const fromObjects = ([] as AddressObject[]).concat(mail.from ?? []);
  const fromList = fromObjects.flatMap((a) => a.value);
  // A line break or control character in a decoded name or address would forge lines in our mails and records.
  const unsafe = (text: string | undefined) => !SafeLine.safeParse((text ?? '').slice(0, 200)).success;
  if (fromObjects.some((a) => unsafe(a.text)) || fromList.some((a) => unsafe(a.name) || unsafe(a.address)) || unsafe(mail.subject)) {
    return refuse('header injection: the From or Subject header decodes to a line break or control character', { subject });
  }
  if (fromList.length !== 1 || !fromList[0]!.address) return refuse('the From header must name exactly one sender', { subject });
  const from = { address: fromList[0]!.address.toLowerCase(), name: fromList[0]!.name ?? '' };
  const withFrom = { ...base, subject, from: { address: shown(from.address), name: shown(from.name) } };

  // trustReceived: SPF is checked against the topmost Received header, the one our own MX wrote.
  const checks = await authenticate(raw, { trustReceived: true, resolver: ctx.resolver, disableArc: true, disableBimi: true, minBitLength: 2048 });
  // Bounded: a mail may carry any number of signatures, each naming any domain.
  const dkim = shown(checks.dkim.results.map((r) => `${r.status.result}${r.signingDomain ? ` (${r.signingDomain})` : ''}`).join(', ') || 'none', 300);
  const spf = shown(checks.spf ? checks.spf.status.result : 'none', 50);
  const dmarc = shown(checks.dmarc ? checks.dmarc.status.result : 'none', 50);
  const auth = { dkim, spf, dmarc };
  const dkimPassed = checks.dkim.results.filter((r) => r.status.result === 'pass' && r.signingDomain).map((r) => r.signingDomain!.toLowerCase()).slice(0, MAX_REASONS);
  const reasons: string[] = [];
  // DMARC pass: a DKIM signature or an SPF pass aligned with the From domain.
  if (dmarc !== 'pass') reasons.push(`the sender is not authenticated: DMARC ${dmarc} (DKIM ${dkim}; SPF ${spf})`);
  // The request carries who the member is (name, address, REF), not their roles or keys.
  const listed = ctx.members.find((m) => m.email.toLowerCase() === from.address);
  const member = listed && { name: listed.name, email: listed.email, ...(listed.ref ? { ref: listed.ref } : {}) };
  if (!member) reasons.push(`${from.address} is not in the member list`);

  const texts = [mail.text ?? ''];
  for (const a of mail.attachments) {
    const textual = a.contentType.startsWith('text/') || a.contentType === 'application/octet-stream' || a.contentType === 'application/x-pem-file' || /\.(pub|key|pem|txt)$/i.test(a.filename ?? '');
    if (!textual) continue;
    if (a.size > MAX_KEY_ATTACHMENT_BYTES) { reasons.push(`the attachment ${shown(a.filename, 80)} is ${a.size} bytes: too large for a key`); continue; }
    texts.push(a.content.toString('utf8'));
  }
  const key = judgeKeyTexts(texts);
  const judged = { dkimPassed, text: mail.text ?? '' };
  if (!key.ok) {
    return { ...judged, request: { ...withFrom, auth, ...(member ? { member } : {}), verdict: 'refused', reasons: [key.reason, ...reasons].slice(0, MAX_REASONS), privateKeySent: key.privateKey } };
  }
  return { ...judged, request: { ...withFrom, auth, ...(member ? { member } : {}), key: key.key, verdict: reasons.length ? 'unverified' : 'ok', reasons: reasons.slice(0, MAX_REASONS) } };
}
