/**
 * Command-line flags read off a zod object schema: each field is a flag `--kebab-name`, typed by its schema
 * (boolean, repeatable for an array, a number, a string otherwise), required unless optional or defaulted. A
 * descriptor only adds what the schema cannot say: the help text, a renamed or negated flag, a hidden field.
 * So a field added to an input schema is a flag at once, and the help never disagrees with what zod checks.
 *
 * Tokenising is node's built-in util.parseArgs, strict (an unknown flag is refused). We chose it over commander:
 * zod already validates and names the bad field, and the help is rendered from these descriptors anyway, so all a
 * library has to do is split argv, which parseArgs does with no dependency; commander would bring its own help,
 * error wording and exit codes, which we would have to override to keep ours (exit 2, "runbook: …" messages).
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { describeIssues, helpOf } from '../common/validation.js';

/** A mistake in what was typed: exit 2, nothing started or sent. */
export class UsageError extends Error {}

export interface FlagSpec {
  /** What the flag means; a string alone is this. */
  help?: string;
  /** The flag's name without dashes; by default the field in kebab-case. */
  flag?: string;
  /** A boolean flag that sets its field to false, e.g. --no-migrate-back for migrateBack. */
  negate?: true;
  /** The placeholder after the flag in help, e.g. NAME; by default from the field's schema. */
  value?: string;
  /** Not a flag (set by another runbook, or a secret that is never typed on a command line). */
  hidden?: true;
}

/** Flag specs by field: a key that is not a field of the schema does not compile. */
export type FieldFlags<S extends z.ZodObject> = { [K in keyof z.input<S> & string]?: FlagSpec | string };

export interface Flag {
  field: string;
  name: string;
  kind: 'boolean' | 'string' | 'number' | 'list';
  negate: boolean;
  required: boolean;
  value: string;
  help: string;
  default?: unknown;
}

const kebab = (field: string) => field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The flags of a schema's fields, in the schema's order. */
export function flagsOf<S extends z.ZodObject>(schema: S, specs: FieldFlags<S>): Flag[] {
  const flags: Flag[] = [];
  for (const [field, fieldSchema] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const given = (specs as Record<string, FlagSpec | string | undefined>)[field];
    const spec: FlagSpec = typeof given === 'string' ? { help: given } : (given ?? {});
    if (spec.hidden) continue;
    let inner: z.ZodType = fieldSchema;
    let required = true;
    let defaultValue: unknown;
    while (inner instanceof z.ZodOptional || inner instanceof z.ZodDefault) {
      required = false;
      if (inner instanceof z.ZodDefault) defaultValue = inner.def.defaultValue;
      inner = inner.unwrap() as z.ZodType;
    }
    const element: z.ZodType = inner instanceof z.ZodArray ? (inner.element as z.ZodType) : inner;
    const choices = element instanceof z.ZodEnum ? element.options.map(String) : undefined;
    const kind = inner instanceof z.ZodBoolean ? 'boolean'
      : inner instanceof z.ZodNumber ? 'number'
      : inner instanceof z.ZodArray ? 'list'
      : inner instanceof z.ZodString || inner instanceof z.ZodStringFormat || inner instanceof z.ZodEnum ? 'string'
      : undefined;
    if (!kind) continue; // nested objects and the like: only through --input FILE
    if (spec.negate && kind !== 'boolean') throw new Error(`flag for ${field}: only a boolean can be negated`);
    flags.push({
      field,
      name: spec.flag ?? (spec.negate ? `no-${kebab(field)}` : kind === 'list' ? kebab(field).replace(/s$/, '') : kebab(field)),
      kind,
      negate: Boolean(spec.negate),
      required,
      value: spec.value ?? choices?.join('|') ?? helpOf(element).placeholder ?? (kind === 'number' ? 'N' : 'TEXT'),
      // A bounded value says its bounds, as its schema checks them.
      help: [spec.help, helpOf(element).range].filter(Boolean).join(', '),
      ...(defaultValue !== undefined ? { default: defaultValue } : {}),
    });
  }
  return flags;
}

type Options = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

/**
 * Splits `args` into positionals, the fields the flags set (only those typed: zod fills the defaults) and the
 * other options. An unknown flag, or a flag without its value, is a UsageError.
 */
export function parseFlags(flags: readonly Flag[], args: string[], other: Options = {}, seeHelp = ''): {
  fields: Record<string, unknown>;
  options: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
} {
  const options: Options = { ...other };
  for (const flag of flags) options[flag.name] = { type: flag.kind === 'boolean' ? 'boolean' : 'string', ...(flag.kind === 'list' ? { multiple: true } : {}) };
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: Options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (!code.startsWith('ERR_PARSE_ARGS_')) throw error;
    const unknown = /Unknown option '([^']+)'/.exec((error as Error).message);
    const message = unknown ? `unknown flag ${unknown[1]}` : (error as Error).message.split('. ')[0]!.replace(/^Option /, 'flag ');
    throw new UsageError(`${message}${seeHelp ? ` (see: ${seeHelp})` : ''}`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const fields: Record<string, unknown> = {};
  for (const flag of flags) {
    const value = values[flag.name];
    delete values[flag.name];
    if (value === undefined) continue;
    if (flag.kind === 'number') fields[flag.field] = value !== '' && Number.isFinite(Number(value)) ? Number(value) : value; // else zod names it
    else fields[flag.field] = flag.negate ? !value : value;
  }
  return { fields, options: values, positionals: parsed.positionals };
}

/**
 * `schema.parse` whose error is a UsageError naming each bad field, e.g. "the answer is invalid:\noperator: …";
 * a missing field says which flag gives it: "host: required (--host HOST)".
 */
export function validated<S extends z.ZodType>(schema: S, raw: unknown, what: string, flags: readonly Flag[] = []): z.output<S> {
  const parsed = schema.safeParse(raw, {
    error: (issue) => {
      if (issue.code !== 'invalid_type' || issue.input !== undefined) return undefined;
      const flag = issue.path?.length === 1 ? flags.find((f) => f.field === issue.path![0]) : undefined;
      return flag ? `required (${flagUsage(flag, false)})` : 'required';
    },
  });
  if (!parsed.success) throw new UsageError(`${what} is invalid:\n${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** `--name VALUE` as typed, in brackets when optional. */
export function flagUsage(flag: Flag, optional = !flag.required): string {
  const text = `--${flag.name}${flag.kind === 'boolean' ? '' : ` ${flag.value}`}${flag.kind === 'list' ? ' …' : ''}`;
  return optional ? `[${text}]` : text;
}

/** Aligned help lines: the flag, then what it means, whether it is required and its default. */
export function flagHelp(rows: readonly { usage: string; help: string }[]): string {
  const width = Math.min(30, Math.max(...rows.map((r) => r.usage.length)));
  return rows.map((r) => (r.usage.length > width ? `  ${r.usage}\n  ${''.padEnd(width)}  ${r.help}` : `  ${r.usage.padEnd(width)}  ${r.help}`)).join('\n');
}

export function describeFlag(flag: Flag): { usage: string; help: string } {
  const notes = [
    flag.required ? 'required' : undefined,
    flag.kind === 'list' ? 'repeatable' : undefined,
    flag.default !== undefined && !flag.negate && !(flag.kind === 'boolean' && flag.default === false) ? `default ${typeof flag.default === 'string' ? flag.default : JSON.stringify(flag.default)}` : undefined,
  ].filter(Boolean);
  return { usage: flagUsage(flag, false), help: [flag.help, notes.length ? `(${notes.join('; ')})` : ''].filter(Boolean).join(' ') };
}
