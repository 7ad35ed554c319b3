/**
 * Zod field definitions shared by the inventory, the runbook inputs, the Update arguments and the CLI flags
 * (which are read off the same schemas): one definition per kind of value, each bounded, each refusing with a
 * message the caller prefixes with the field's path. No I/O here: workflow code imports it.
 */
import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { z } from 'zod';

/**
 * A schema built on its first use, not when its module loads. Workflow code runs every module it imports again
 * for each runbook the worker starts or replays (the SDK's reusable V8 context gives each run its own module
 * cache), and building every schema of the runbook inputs was most of that: a few ms of CPU per run, and its
 * garbage. A run now builds the few it uses. The proxy hands out the built schema's own members (its methods
 * bound to it), so zod, `.meta()` and the CLI's flags read it as they read the schema.
 */
export function deferred<T extends object>(build: () => T): T {
  let built: T | undefined;
  const schema = (): T => (built ??= build());
  return new Proxy({} as T, {
    get: (_, key) => Reflect.get(schema(), key),
    has: (_, key) => Reflect.has(schema(), key),
    ownKeys: () => Reflect.ownKeys(schema()),
    getOwnPropertyDescriptor: (_, key) => {
      const found = Reflect.getOwnPropertyDescriptor(schema(), key);
      return found && { ...found, configurable: true }; // the empty target holds none of its own
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(schema()),
    set: (_, key, value) => Reflect.set(schema(), key, value),
    defineProperty: (_, key, descriptor) => Reflect.defineProperty(schema(), key, descriptor),
  });
}

export const HostName = deferred(() => z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, { message: 'must be a host name: lower-case letters, digits, dots and dashes' })
  .meta({ placeholder: 'HOST' }));

/** A Xen domain (guest) name, as the inventory and the runbooks name guests. */
export const GuestName = deferred(() => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: 'must be a Xen domain name (letters, digits, - _ .)' }).meta({ placeholder: 'GUEST' }));

/**
 * What a field shows in the CLI's help (starter/flags.ts), from its schema's metadata: its placeholder
 * (`.meta({ placeholder: 'HOST' })`) and, for a bounded value, its range ("2s to 30 days").
 */
export function helpOf(schema: z.ZodType): { placeholder?: string; range?: string } {
  const meta = schema.meta();
  return {
    ...(typeof meta?.placeholder === 'string' ? { placeholder: meta.placeholder } : {}),
    ...(typeof meta?.range === 'string' ? { range: meta.range } : {}),
  };
}

/**
 * What must never reach a record, a mail or a terminal from a person's text: control characters (line breaks,
 * NUL, ESC…), line and paragraph separators, bidirectional overrides, isolates and marks (U+202A–U+202E,
 * U+2066–U+2069, U+200E/U+200F, U+061C), invisible characters (zero widths, word joiner, BOM) and lone
 * surrogates. With them a comment forges lines ("approved by …") and a name reads as another one.
 */
const UNSAFE_TEXT = /[\p{Cc}\p{Zl}\p{Zp}\p{Cs}\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/u;

const UNSAFE_MESSAGE = 'must be one line of printable text: no line break, control, bidirectional-override or invisible character';

/**
 * One line of text a person typed (a name, a reason, a comment), at most `max` characters. `required` is the
 * message for an empty or blank value; without it the text may be empty.
 */
export function singleLine(max: number, required?: string) {
  const base = z.string().max(max, { message: `must be at most ${max} characters` }).refine((s) => !UNSAFE_TEXT.test(s), { message: UNSAFE_MESSAGE });
  return required ? base.refine((s) => s.trim().length > 0, { message: required }) : base;
}

/** Who answers a runbook (`by` in every Update): kept in the record and shown to the next person, so never spoofable. */
export const PersonName = (required: string) => singleLine(100, required);
/** A member's subscription reference, as the page writes it (REF-HOST-VM-42). */
export const MemberRef = deferred(() => z.string().regex(/^REF-[A-Z0-9]+(-[A-Z0-9]+){0,5}$/, { message: 'must be a reference such as REF-HOST-VM-42' }));
/** Why a runbook runs: in its summary, its record and the admins' mail. */
export const Reason = (required = 'say why') => singleLine(500, required);
/** A free comment kept in the run's record. */
export const Comment = deferred(() => singleLine(500));

/**
 * An absolute path, as a shell-quoted argument of a command on a host: no `.` or `..` component (it would walk
 * out of /dev), no empty one, no component starting with a dash (an option to the command that reads it).
 */
function absolutePath(prefix: '/' | '/dev/', example: string) {
  const message = `must be an absolute path such as ${example}: letters, digits, _ . : - + in components, no ".." and no component starting with "-"`;
  return z.string().max(256, { message: 'must be at most 256 characters' }).refine((path) => {
    if (!path.startsWith(prefix) || path.endsWith('/')) return false;
    return path.slice(1).split('/').every((part) => /^[A-Za-z0-9_.:+-]+$/.test(part) && part !== '.' && part !== '..' && !part.startsWith('-'));
  }, { message });
}

/** A block device on a host: /dev/sda5, /dev/mapper/<wwid>, /dev/disk/by-path/pci-0000:00:1f.2-ata-1. */
export const DevicePath = deferred(() => absolutePath('/dev/', '/dev/sda5'));
/** A file on a host (a Xen guest's xl configuration). */
export const HostFilePath = deferred(() => absolutePath('/', '/etc/xen/web.cfg'));

/**
 * A Temporal duration string ("30s", "5 minutes", "2h"), bounded per field. The value checked is Temporal's own
 * reading of it (msToNumber, the SDK's parser for every timer and timeout), so what passes is what runs.
 * `min`/`max` are durations too, named in the message.
 */
export function duration(min: Duration & string, max: Duration & string) {
  const [lo, hi] = [msToNumber(min), msToNumber(max)];
  return z
    .string()
    .max(40, { message: 'must be a duration such as "30s", "5 minutes" or "2h"', abort: true })
    .regex(/^\d+(\.\d+)? ?(ms|s|m|h|d|seconds?|minutes?|hours?|days?)$/, { message: 'must be a duration such as "30s", "5 minutes" or "2h"', abort: true })
    .refine((value) => {
      const ms = msToNumber(value as Duration);
      return Number.isFinite(ms) && ms >= lo && ms <= hi;
    }, { message: `must be between ${min} and ${max}` })
    .meta({ placeholder: 'DURATION', range: `${min} to ${max}` });
}

/** Characters a message shows escaped: a field name or key taken from the input must not forge lines either. */
function printable(text: string): string {
  return text.replace(new RegExp(UNSAFE_TEXT.source, 'gu'), (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/** Render zod issues as `field.path: message` lines, so a person can find the bad field. */
export function describeIssues(error: z.ZodError, root = ''): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
        root,
      );
      return printable(`${path || '(input)'}: ${issue.message}`);
    })
    .join('\n');
}
