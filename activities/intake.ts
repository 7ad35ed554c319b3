/**
 * The request mailbox over IMAP (imapflow): list and judge what waits in the folder, and file a request in the
 * done folder once its run exists. Reads only until then: a crash between the two leaves the mail where it was,
 * and the next poll finds its run already started (the workflow id comes from the Message-ID).
 */
import { readFile } from 'node:fs/promises';
import { heartbeat } from '@temporalio/activity';
import type { ImapFlow } from 'imapflow';
import { peopleWith, type Imap, type Inventory } from '../common/inventory.js';
import { failure } from '../common/failures.js';
import { isLoopback } from './mail.js';
import { judgeReply, threadIdsIn, type ReplyMail } from './reply-mail.js';
import { dnsResolver, judgeMail, judgeOversized, MAX_REQUEST_BYTES, messageIdIn, notARequest, refusedRequest, requestWorkflowId, type JudgedMail, type RequestMail } from './request-mail.js';

/** What a poll hands the workflow: the request, and where it lies in the mailbox. */
export interface PolledRequest extends RequestMail {
  uid: number;
  uidValidity: string;
  /** Set when the mail is no request at all (automatic mail): filed, no run started. */
  ignored?: string;
  /** Set when the mail names a thread (In-Reply-To, References): judged as a reply too, in case the thread is an onboarding's. */
  reply?: ReplyMail;
}

/** Requests judged per poll: the rest waits for the next one (a flood cannot make one activity endless). */
const MAX_PER_POLL = 20;

function safeHeartbeat(): void {
  try { heartbeat(); } catch { /* outside an activity (tests) */ }
}

async function connect(imap: Imap): Promise<ImapFlow> {
  let pass: string;
  try {
    pass = (await readFile(imap.passFile, 'utf8')).replace(/\r?\n$/, '');
  } catch (error) {
    throw failure('MailPassFileUnreadable', `cannot read the IMAP password file ${imap.passFile}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  // Loaded on first use, like the mail parser (request-mail.ts): a worker with no request mailbox never needs it,
  // and every worker start (a restart after a crash included) would pay its ~0.2 s of CPU.
  const { ImapFlow } = await import('imapflow');
  const client = new ImapFlow({
    host: imap.host,
    port: imap.port,
    secure: imap.tls,
    // Off loopback a password never crosses the network in clear: STARTTLS or implicit TLS.
    doSTARTTLS: imap.tls ? undefined : !isLoopback(imap.host),
    auth: { user: imap.user, pass },
    logger: false,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 60_000,
  });
  // imapflow reports a dropped connection here; without a listener it would crash the worker.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    const e = error as Error & { authenticationFailed?: boolean };
    throw failure(e.authenticationFailed ? 'MailAuthFailed' : 'MailTransportFailed', `IMAP ${imap.host}:${imap.port}: ${e.message}`);
  }
  return client;
}

async function messageIdOf(client: ImapFlow, uid: number): Promise<string | undefined> {
  const head = await client.fetchOne(String(uid), { headers: ['message-id'] }, { uid: true });
  return messageIdIn(head && head.headers ? head.headers.toString('latin1') : '');
}

/** An oversized mail without a Message-ID is named by its place in the mailbox (it is never downloaded). */
function oversizedBasis(uidValidity: string, uid: number): Buffer {
  return Buffer.from(`oversized ${uidValidity}/${uid}`);
}

/** The workflow id of the message at `uid`, as pollRequests made it; undefined when it is gone. */
async function workflowIdAt(client: ImapFlow, uid: number, uidValidity: string): Promise<string | undefined> {
  const meta = await client.fetchOne(String(uid), { size: true }, { uid: true });
  if (!meta) return undefined;
  const id = await messageIdOf(client, uid);
  if ((meta.size ?? 0) > MAX_REQUEST_BYTES) return requestWorkflowId(id, oversizedBasis(uidValidity, uid));
  if (id) return requestWorkflowId(id, Buffer.alloc(0));
  const message = await client.fetchOne(String(uid), { source: true }, { uid: true });
  return message && message.source ? requestWorkflowId(undefined, message.source) : undefined;
}

/**
 * A mail that makes a parser throw is refused with the reason, not retried: otherwise one poisonous message
 * would stop the mailbox for every request after it.
 */
async function judgeOrRefuse(raw: Buffer, ctx: Parameters<typeof judgeMail>[1]): Promise<JudgedMail> {
  try {
    return await judgeMail(raw, ctx);
  } catch (error) {
    const messageId = messageIdIn(raw.toString('latin1').split(/\r?\n\r?\n/)[0] ?? '');
    return { request: refusedRequest(messageId, raw, `the mail could not be read: ${String((error as Error).message).replace(/[^\x20-\x7e]/g, '?').slice(0, 200)}`), dkimPassed: [], text: '' };
  }
}

function settings(inventory: Inventory) {
  const requests = inventory.mail?.requests;
  if (!requests) throw failure('InvalidInput', 'the inventory has no mail.requests section: there is no request mailbox to read');
  return { requests, resolver: dnsResolver(requests.resolver), members: peopleWith(inventory, ['member']) };
}

export function intakeActivities(inventory: Inventory) {
  return {
    /** The requests waiting in the request folder, oldest first, at most MAX_PER_POLL, each judged. */
    async pollRequests(): Promise<PolledRequest[]> {
      const { requests, resolver, members } = settings(inventory);
      const client = await connect(requests.imap);
      try {
        const lock = await client.getMailboxLock(requests.imap.folder);
        try {
          const box = client.mailbox;
          if (!box || box.exists === 0) return [];
          const uidValidity = String(box.uidValidity);
          const listed: { uid: number; size: number }[] = [];
          for await (const m of client.fetch('1:*', { uid: true, size: true })) {
            if (listed.length < MAX_PER_POLL) listed.push({ uid: m.uid, size: m.size ?? 0 });
          }
          const out: PolledRequest[] = [];
          for (const { uid, size } of listed) {
            safeHeartbeat();
            if (size > MAX_REQUEST_BYTES) {
              // Never downloaded: its header alone names it.
              const id = await messageIdOf(client, uid);
              out.push({ ...judgeOversized(id, size, oversizedBasis(uidValidity, uid)), uid, uidValidity });
              continue;
            }
            const message = await client.fetchOne(String(uid), { source: true }, { uid: true });
            if (!message || !message.source) continue; // expunged meanwhile
            const head = message.source.toString('latin1').split(/\r?\n\r?\n/)[0] ?? '';
            const ignored = notARequest(head, inventory.mail?.from);
            if (ignored) {
              out.push({ ...refusedRequest(messageIdIn(head), message.source, ignored), uid, uidValidity, ignored });
              continue;
            }
            const judged = await judgeOrRefuse(message.source, { members, resolver });
            const threadIds = threadIdsIn(head);
            out.push({ ...judged.request, uid, uidValidity, ...(threadIds.length ? { reply: judgeReply(judged, threadIds) } : {}) });
          }
          return out;
        } finally {
          lock.release();
        }
      } finally {
        await client.logout().catch(() => client.close());
      }
    },

    /**
     * Move a request out of the request folder into the done folder (created if missing). Already moved (a retry,
     * another poller): nothing to do. The Message-ID is checked first: a mailbox rebuilt since (new UIDVALIDITY)
     * never gets another message moved by an old UID.
     */
    async fileRequest(request: { uid: number; uidValidity: string; workflowId: string }): Promise<{ moved: boolean }> {
      const { requests } = settings(inventory);
      const client = await connect(requests.imap);
      try {
        await client.mailboxCreate(requests.imap.doneFolder).catch(() => undefined); // exists already
        const lock = await client.getMailboxLock(requests.imap.folder);
        try {
          if (!client.mailbox || String(client.mailbox.uidValidity) !== request.uidValidity) return { moved: false };
          if ((await workflowIdAt(client, request.uid, request.uidValidity)) !== request.workflowId) return { moved: false };
          const moved = await client.messageMove(String(request.uid), requests.imap.doneFolder, { uid: true });
          return { moved: moved !== false };
        } finally {
          lock.release();
        }
      } finally {
        await client.logout().catch(() => client.close());
      }
    },
  };
}

export type IntakeActivities = ReturnType<typeof intakeActivities>;
