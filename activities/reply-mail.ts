/**
 * A member's reply in an onboarding thread ("install done"), judged: which request's thread it names (In-Reply-To,
 * References), whether it is DKIM-signed by the sender's own domain and comes from a listed member, and whether its
 * first own lines say the install is done. Data only: the intake delivers the `installDone` Update
 * (activities/replies.ts), and the onboarding run checks the sender is its own member.
 */
import type { JudgedMail } from './request-mail.js';

/** Ids named per thread header, each bounded: a hostile mail may list thousands. */
const MAX_THREAD_IDS = 20;
const MAX_ID_LENGTH = 250;
/** Lines of the member's own text (quoted lines skipped) where the phrase must stand. */
const OWN_LINES = 3;

/**
 * What says "the install is done", case-insensitive, in the first own lines of the reply (README, members' VMs):
 * "install done", "installation done", "install is done", "installation terminée", "c'est fait".
 */
const INSTALL_DONE = /\b(install(ation)?( is)? done|installation termin[ée]e|c'est fait)\b/i;

/** The reply's judgment, handed to the intake workflow with the polled mail. */
export interface ReplyMail {
  /** The Message-IDs the reply names (In-Reply-To first, then References, newest first): one may be a request's. */
  threadIds: string[];
  /** The sender as the member list knows them; absent when the mail is not from a listed member. */
  member?: { name: string; email: string };
  /** Why nothing is delivered (unauthenticated, not a member, no clear "install done"); empty when the reply is good. */
  reasons: string[];
}

/** The Message-IDs of In-Reply-To and References in a header block (unfolded), bounded, unique. */
export function threadIdsIn(head: string): string[] {
  const ids: string[] = [];
  for (const name of ['in-reply-to', 'references']) {
    const value = new RegExp(`^${name}:\\s*(.*(?:\\r?\\n[ \\t].*)*)`, 'im').exec(head)?.[1] ?? '';
    const found = (value.match(/<[\x21-\x3b\x3d\x3f-\x7e]{1,250}>/g) ?? []).filter((id) => id.length <= MAX_ID_LENGTH);
    // References lists the thread oldest first: the newest is nearest to this reply.
    for (const id of name === 'references' ? found.reverse() : found) if (!ids.includes(id)) ids.push(id);
  }
  return ids.slice(0, MAX_THREAD_IDS);
}

/** The phrase that says the install is done in the first own (non-quoted, non-empty) lines, or undefined. */
export function installDoneSaid(text: string): string | undefined {
  const own = text.split(/\r?\n/).map((l) => l.trim().replace(/[\u2018\u2019]/g, "'")).filter((l) => l && !l.startsWith('>')).slice(0, OWN_LINES);
  for (const line of own) {
    const said = INSTALL_DONE.exec(line.slice(0, 200))?.[0];
    if (said) return said;
  }
  return undefined;
}

/** A mail that names a thread, judged as a reply: good when DKIM passed for the From's domain, from a member, saying it is done. */
export function judgeReply(judged: JudgedMail, threadIds: string[]): ReplyMail {
  const { request } = judged;
  const from = request.from?.address;
  const reasons: string[] = [];
  if (!from) reasons.push(request.reasons[0] ?? 'the mail has no usable sender');
  else {
    const domain = from.slice(from.lastIndexOf('@') + 1);
    if (!judged.dkimPassed.includes(domain)) reasons.push(`the reply is not DKIM-signed by ${domain} (DKIM ${request.auth.dkim})`);
    if (!request.member) reasons.push(`${from} is not in the member list`);
  }
  if (!installDoneSaid(judged.text)) reasons.push('the reply does not say the install is done (its first lines name none of "install done", "installation terminée", "c\'est fait")');
  return { threadIds, ...(request.member ? { member: { name: request.member.name, email: request.member.email } } : {}), reasons };
}
