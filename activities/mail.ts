/**
 * Mail to the admins: the runbook tells people it waits for them. Real SMTP through nodemailer.
 *
 * Activities run at least once, and SMTP cannot promise exactly-once: when the connection drops after the
 * server took the message but before its "250 OK" reached us, the retried attempt sends it again. Every attempt
 * of one activity therefore carries the same Message-ID, so the receiving side (mail clients, sieve or
 * procmail duplicate filters) recognises a retried send as the same message.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { asyncLocalStorage, log, type Context } from '@temporalio/activity';
import { createTransport } from 'nodemailer';
import { peopleWith, type Inventory } from '../common/inventory.js';
import { sh } from '../common/shell.js';
import { failure } from '../common/failures.js';

export interface AdminMessage {
  subject: string;
  text: string;
  /** The runbook's name (e.g. diskReplacement), shown in the mail's footer. */
  runbook?: string;
  /** Outside a worker the only source of the workflow id; inside one the activity's own info wins. */
  workflowId?: string;
}

export interface MailResult {
  sent: boolean;
  messageId?: string;
  /** The admins the server accepted (all admins when sent). */
  to: string[];
  /** Why nothing was sent, or which admins the server refused. */
  reason?: string;
}

const SUBJECT_TAG = '[runbook]';
const LAB_TAG = '[lab]';
const MESSAGE_ID_DOMAIN = 'runbooks';
// Short enough that a dead server fails the attempt well within any sane start-to-close timeout.
const CONNECTION_TIMEOUT_MS = 10_000;
const GREETING_TIMEOUT_MS = 10_000;
const SOCKET_TIMEOUT_MS = 30_000;

function activityContext(): Context | undefined {
  return asyncLocalStorage.getStore();
}

function warn(message: string, meta: Record<string, unknown>): void {
  // The activity logger needs an activity context; tests and scripts call us without one.
  if (activityContext()) log.warn(message, meta);
  else console.warn(`[mail] ${message}`, meta);
}

/** Loopback: TLS protects nothing there, and local relays often present a self-signed certificate. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
}

/** Message-ID local parts are dot-atoms: keep letters, digits, _ and -, percent-encode the rest (deterministically). */
function atom(value: string): string {
  return Array.from(Buffer.from(value, 'utf8'))
    .map((byte) => (/[A-Za-z0-9_-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
}

/**
 * The same for every attempt of one activity: workflow id, run id (a continued-as-new or reset run numbers its
 * activities from 1 again, and its mails are new ones) and activity id. Outside a worker, a digest of the content
 * stands in for the activity id. With no workflow at all, nodemailer makes a random one.
 */
export function messageIdFor(message: AdminMessage, ctx: Context | undefined = activityContext()): string | undefined {
  if (ctx) {
    const { workflowExecution, activityId } = ctx.info;
    const workflowId = workflowExecution?.workflowId ?? message.workflowId;
    if (workflowId) return `<${[workflowId, workflowExecution?.runId ?? '', activityId].filter(Boolean).map(atom).join('.')}@${MESSAGE_ID_DOMAIN}>`;
  }
  if (!message.workflowId) return undefined;
  const digest = createHash('sha256').update(`${message.subject}\0${message.text}`).digest('hex').slice(0, 16);
  return `<${atom(message.workflowId)}.${digest}@${MESSAGE_ID_DOMAIN}>`;
}

/** Every form in which a password can travel in an SMTP conversation (AUTH LOGIN, AUTH PLAIN), removed. */
function redact(text: string, user: string, pass: string): string {
  if (!pass) return text;
  const forms = [
    pass,
    Buffer.from(pass).toString('base64'),
    Buffer.from(`\0${user}\0${pass}`).toString('base64'),
    Buffer.from(`${user}\0${user}\0${pass}`).toString('base64'),
  ];
  return forms.reduce((out, form) => out.split(form).join('[redacted]'), text);
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  command?: string;
}

export function mailActivities(inventory: Inventory) {
  const mail = inventory.mail;
  // One transport per worker. Not pooled: admin mails are rare, and a connection per mail is what lets the
  // password file be read at send time (a pool would keep the first credentials for its connections' lifetime).
  const transport = mail
    ? createTransport({
        host: mail.host,
        port: mail.port,
        secure: mail.secure,
        ignoreTLS: !mail.secure && isLoopback(mail.host),
        // Never send a password in clear over a network: without implicit TLS, insist on STARTTLS.
        requireTLS: !mail.secure && !!mail.auth && !isLoopback(mail.host),
        connectionTimeout: CONNECTION_TIMEOUT_MS,
        greetingTimeout: GREETING_TIMEOUT_MS,
        socketTimeout: SOCKET_TIMEOUT_MS,
        // Our messages are plain text we build; nothing may pull files or URLs into them.
        disableFileAccess: true,
        disableUrlAccess: true,
      })
    : undefined;

  async function readPassword(passFile: string): Promise<string> {
    let pass: string;
    try {
      pass = (await readFile(passFile, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      throw failure('MailPassFileUnreadable', `cannot read the SMTP password file ${passFile}: ${(error as Error).message}`);
    }
    if (!pass) throw failure('MailPassFileUnreadable', `the SMTP password file ${passFile} is empty`);
    return pass;
  }

  /**
   * Send `message` to `to` (`whom` names them in warnings and reasons: "admins", "people with roles board"); every
   * attempt of one activity carries the same Message-ID (see the top).
   */
  async function send(to: string[], whom: string, message: AdminMessage, extraHeaders: Record<string, string> = {}): Promise<MailResult> {
    if (!mail || !transport) {
      const reason = 'no mail section in the inventory: nobody was mailed';
      warn(reason, { subject: message.subject });
      return { sent: false, to: [], reason };
    }
    if (to.length === 0) {
      const reason = `the inventory lists no ${whom}: nobody was mailed`;
      warn(reason, { subject: message.subject });
      return { sent: false, to: [], reason };
    }

    const ctx = activityContext();
    const workflowId = ctx?.info.workflowExecution?.workflowId ?? message.workflowId;
    const tags = inventory.simulated ? `${SUBJECT_TAG} ${LAB_TAG}` : SUBJECT_TAG;
    const text = [
      ...(inventory.simulated ? ['SIMULATED: this mail comes from the lab. The hosts are not real; nothing real was touched.', ''] : []),
      message.text.replace(/\s+$/, ''),
      '',
      '-- ',
      ...(message.runbook ? [`Runbook: ${message.runbook}`] : []),
      ...(workflowId ? [`Workflow: ${workflowId}`, `Progress: ${sh`npx runbook progress ${workflowId}`.text}`] : []),
      'Sent by the runbooks worker.',
      '',
    ].join('\n');

    const auth = mail.auth ? { user: mail.auth.user, pass: await readPassword(mail.auth.passFile) } : undefined;
    const messageId = messageIdFor(message, ctx);
    try {
      const info = await transport.sendMail({
        from: mail.from,
        to,
        subject: `${tags} ${message.subject}`,
        text,
        ...(messageId ? { messageId } : {}),
        headers: {
          // RFC 3834: automatic mail; vacation responders must not answer it.
          'Auto-Submitted': 'auto-generated',
          ...(workflowId ? { 'X-Runbook-Workflow-Id': workflowId } : {}),
          ...(message.runbook ? { 'X-Runbook': message.runbook } : {}),
          ...extraHeaders,
        },
        ...(auth ? { auth } : {}),
      });
      const rejected = info.rejected.map(String);
      if (rejected.length > 0) warn(`the SMTP server refused some ${whom}`, { rejected, messageId: info.messageId });
      return {
        sent: true,
        messageId: info.messageId,
        to: info.accepted.map(String),
        ...(rejected.length > 0 ? { reason: `refused by the server: ${rejected.join(', ')}` } : {}),
      };
    } catch (error) {
      const err = error as SmtpError;
      const detail = [err.message, err.command && `(command ${err.command})`].filter(Boolean).join(' ');
      const what = `SMTP ${mail.host}:${mail.port}: ${detail}`;
      // Retryable even on a refused login: the password file is read again at the next attempt.
      throw failure(err.code === 'EAUTH' ? 'MailAuthFailed' : 'MailTransportFailed', auth ? redact(what, auth.user, auth.pass) : what);
    }
  }

  return {
    /**
     * Mail the inventory's admins. No mail section or no admins is not a failure: the runbook waits for a person
     * all the same, and its progress says what it waits for; we return sent:false and log a warning.
     */
    mailAdmins(message: AdminMessage): Promise<MailResult> {
      return send(mail?.admins ?? [], 'mail.admins', message);
    },

    /** Mail the inventory's people holding one of `roles` (an approval's reminder); like mailAdmins otherwise. */
    mailPeople(roles: string[], message: AdminMessage): Promise<MailResult> {
      return send(peopleWith(inventory, roles).map((p) => p.email), `people with the roles ${roles.join(', ')}`, message);
    },

    /** Mail the board (the inventory's people with the role board): what they approve or must know. */
    async mailBoard(message: AdminMessage): Promise<MailResult> {
      return send(peopleWith(inventory, ['board']).map((p) => p.email), 'people with the role board', message);
    },

    /**
     * Mail one member of the inventory (never an address taken from a mail as is: only a listed member is
     * written to), in the thread of their request when `inReplyTo` is given.
     */
    async mailMember(message: AdminMessage & { to: string; inReplyTo?: string }): Promise<MailResult> {
      const member = peopleWith(inventory, ['member']).find((p) => p.email.toLowerCase() === message.to.toLowerCase());
      if (!member) throw failure('InvalidInput', `to: ${message.to.slice(0, 100)} is not a member in the inventory`);
      const thread: Record<string, string> = message.inReplyTo && /^<[\x21-\x3b\x3d\x3f-\x7e]{1,250}>$/.test(message.inReplyTo)
        ? { 'In-Reply-To': message.inReplyTo, References: message.inReplyTo }
        : {};
      return send([member.email], 'the member', message, thread);
    },
  };
}

export type MailActivities = ReturnType<typeof mailActivities>;
