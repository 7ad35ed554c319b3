/**
 * Our own settings: one RUNBOOK_* name each, described and parsed here only. Each process (the CLI, the worker,
 * the codec server, `npm start`) calls `readSettings` once with the names it uses and passes the values down;
 * nothing else looks these names up in the environment.
 *
 * The Temporal connection is not here: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* and
 * the temporal CLI's TOML profiles are read by @temporalio/envconfig (common/temporal.ts).
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { repoRoot } from '../scripts/paths.js';
import { describeIssues } from './validation.js';

const port = z.coerce.number({ message: 'must be a port number (0-65535)' }).int({ message: 'must be a port number (0-65535)' }).min(0).max(65535);
const path = z.string().transform((p) => resolve(p));
const commaList = z.string().transform((s) => s.split(',').map((part) => part.trim()).filter(Boolean));

interface Setting<S extends z.ZodType = z.ZodType> {
  env: `RUNBOOK_${string}`;
  schema: S;
  help: string;
  /** Shown instead of the value anywhere we print settings. */
  secret?: true;
}
const setting = <S extends z.ZodType>(s: Setting<S>): Setting<S> => s;

/** Every setting of ours, by the name the code uses. The README's configuration table lists the same. */
export const SETTINGS = {
  taskQueue: setting({ env: 'RUNBOOK_TASK_QUEUE', schema: z.string().default('runbooks'), help: 'task queue the worker polls and the CLI starts runbooks on (default runbooks)' }),
  inventory: setting({ env: 'RUNBOOK_INVENTORY', schema: path.optional(), help: 'the hosts (JSON); without it `npm start` runs the simulated lab' }),
  codecKey: setting({ env: 'RUNBOOK_CODEC_KEY', schema: z.string().optional(), secret: true, help: 'payload encryption keys "id:base64", comma-separated, current first' }),
  codecKeyFile: setting({ env: 'RUNBOOK_CODEC_KEY_FILE', schema: path.optional(), help: 'the same keys in a file (`npm start`: .data/codec.key)' }),
  sealingKeyFile: setting({ env: 'RUNBOOK_SEALING_KEY_FILE', schema: path.optional(), help: "the worker's private passphrase-sealing keys (`npm start`: .data/sealing.key)" }),
  sealingPublicKeyFile: setting({ env: 'RUNBOOK_SEALING_PUBLIC_KEY_FILE', schema: path.optional(), help: 'the public sealing key senders seal passphrases for (default <data dir>/sealing.pub when it exists)' }),
  codecToken: setting({ env: 'RUNBOOK_CODEC_TOKEN', schema: z.string().trim().optional(), secret: true, help: "the codec server's access token" }),
  codecTokenFile: setting({ env: 'RUNBOOK_CODEC_TOKEN_FILE', schema: path.optional(), help: 'the same token, first line of a file (`npm start`: .data/codec.token)' }),
  codecListen: setting({ env: 'RUNBOOK_CODEC_LISTEN', schema: z.string().default('127.0.0.1'), help: 'address the codec server listens on (default 127.0.0.1)' }),
  codecPort: setting({ env: 'RUNBOOK_CODEC_PORT', schema: port.default(8234), help: 'port of the codec server (default 8234)' }),
  codecAllowedOrigins: setting({ env: 'RUNBOOK_CODEC_ALLOWED_ORIGINS', schema: commaList.optional(), help: 'browser origins the codec server lets in, comma-separated (default the dev UI)' }),
  dataDir: setting({ env: 'RUNBOOK_DATA_DIR', schema: path.default(() => join(repoRoot(), '.data')), help: "`npm start`'s folder for Temporal's database and the keys (default .data)" }),
  labDir: setting({ env: 'RUNBOOK_LAB_DIR', schema: path.default(() => join(repoRoot(), '.lab')), help: "the lab's folder: inventory, audit, mail, control socket (default .lab)" }),
  labSubnet: setting({ env: 'RUNBOOK_LAB_SUBNET', schema: z.coerce.number().int().min(1).max(254).default(10), help: 'the lab hosts answer on 127.0.N.x (default 10)' }),
  temporalPort: setting({ env: 'RUNBOOK_TEMPORAL_PORT', schema: port.default(7233), help: "`npm start`'s dev server port (default 7233)" }),
  metricsPort: setting({ env: 'RUNBOOK_METRICS_PORT', schema: port.optional(), help: "the worker's Prometheus metrics on 127.0.0.1:PORT/metrics (`npm start`: 9464; unset elsewhere: none)" }),
  uiPort: setting({ env: 'RUNBOOK_UI_PORT', schema: port.default(8233), help: "`npm start`'s Web UI port (default 8233)" }),
} as const;

export type SettingName = keyof typeof SETTINGS;
export type Settings = { [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> };

/** The settings each process reads. */
export const CODEC_KEY_SETTINGS = ['codecKey', 'codecKeyFile'] as const satisfies readonly SettingName[];
export type CodecKeySettings = Pick<Settings, (typeof CODEC_KEY_SETTINGS)[number]>;

export class SettingsError extends Error {}

/**
 * Parses the named settings from `env`. An empty variable counts as unset (as a shell's `VAR= cmd` means);
 * a bad value throws a SettingsError naming the variable, e.g. `RUNBOOK_CODEC_PORT: must be a port number`.
 */
export function readSettings<K extends SettingName>(names: readonly K[], env: NodeJS.ProcessEnv = process.env): Pick<Settings, K> {
  const shape: Record<string, z.ZodType> = {};
  const raw: Record<string, string> = {};
  for (const name of names) {
    const { env: variable, schema } = SETTINGS[name];
    shape[variable] = schema;
    const value = env[variable];
    if (value !== undefined && value !== '') raw[variable] = value;
  }
  const parsed = z.object(shape).safeParse(raw);
  if (!parsed.success) throw new SettingsError(`bad setting:\n${describeIssues(parsed.error)}`);
  // Every asked name is a key of the result, even when unset (callers may test `'codecKey' in settings`).
  return Object.fromEntries(names.map((name) => [name, (parsed.data as Record<string, unknown>)[SETTINGS[name].env]])) as Pick<Settings, K>;
}

/** One setting given another way (a command-line flag that overrides it): same schema, the error names `label`. */
export function parseSetting<K extends SettingName>(name: K, text: string, label: string): Settings[K] {
  const parsed = SETTINGS[name].schema.safeParse(text);
  if (!parsed.success) throw new SettingsError(`bad setting:\n${describeIssues(parsed.error, label)}`);
  return parsed.data as Settings[K];
}

/** `name  help` lines for the given settings, for `--help` texts. */
export function describeSettings(names: readonly SettingName[]): string {
  const width = Math.max(...names.map((n) => SETTINGS[n].env.length));
  return names.map((n) => `  ${SETTINGS[n].env.padEnd(width)}  ${SETTINGS[n].help}`).join('\n');
}
