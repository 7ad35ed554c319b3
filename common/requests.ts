/**
 * A member's VM request as the mail intake hands it to its run (vmRequest, later vmOnboarding): validated again
 * when the run starts, since a run can also be started by hand (the UI, `temporal workflow start`). Every text is
 * one printable line, bounded: it is shown to the board in mails and in the approval. Pure code: workflows import it.
 */
import { z } from 'zod';
import { deferred, duration, MemberRef, PersonName, singleLine } from './validation.js';

export const KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;

export const RequestKey = deferred(() => z.object({
  type: z.enum(KEY_TYPES),
  bits: z.number().int().min(256).max(16384),
  fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, { message: 'must be a SHA256 fingerprint as ssh-keygen -l prints it' }),
  // The bare key line: no options before the type, a comment of safe characters only.
  line: z.string().max(4300).regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+=*( [A-Za-z0-9@._+-]{1,100})?$/, {
    message: 'must be a bare public key line: type, base64 key, optional comment',
  }),
}).strict());

export const VmRequestInput = deferred(() => z.object({
  workflowId: z.string().regex(/^vm-request-[0-9a-f]{32}$/, { message: 'must be vm-request- and 32 hex digits (from the Message-ID)' }),
  messageId: singleLine(201),
  from: z.object({ address: singleLine(201), name: singleLine(201) }).strict().optional(),
  subject: singleLine(201),
  verdict: z.enum(['ok', 'unverified', 'refused']),
  reasons: z.array(singleLine(600)).max(20),
  auth: z.object({ dkim: singleLine(400), spf: singleLine(100), dmarc: singleLine(100) }).strict(),
  member: z.object({ name: PersonName('name the member'), email: z.email(), ref: MemberRef.optional() }).strict().optional(),
  key: RequestKey.optional(),
  privateKeySent: z.boolean(),
}).strict().superRefine((r, ctx) => {
  // An ok verdict is an authenticated member with a key: never one without the other.
  if (r.verdict === 'ok' && !r.key) ctx.addIssue({ code: 'custom', path: ['key'], message: 'an ok request carries its key' });
  if (r.verdict === 'ok' && !r.member) ctx.addIssue({ code: 'custom', path: ['member'], message: 'an ok request comes from a member' });
  if (r.verdict === 'ok' && r.reasons.length) ctx.addIssue({ code: 'custom', path: ['reasons'], message: 'an ok request has no reasons against it' });
}));
export type VmRequestInput = z.infer<typeof VmRequestInput>;

/** The request mailbox's poller: how often it reads, how many polls before it continues as new. */
export const MailIntakeInput = deferred(() => z.object({
  pollEvery: duration('1s', '1h').default('30 seconds'),
  pollsPerRun: z.number().int().min(1).max(1000).default(200),
}).strict());
export type MailIntakeInput = z.input<typeof MailIntakeInput>;
