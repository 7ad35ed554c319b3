/**
 * runbook-codec-server (node dist/codec-server/main.js): the codec server for the Web UI and the temporal CLI.
 *
 *   --listen ADDR          RUNBOOK_CODEC_LISTEN            default 127.0.0.1
 *   --port N               RUNBOOK_CODEC_PORT              default 8234
 *   --allowed-origin URL   RUNBOOK_CODEC_ALLOWED_ORIGINS   comma-separated; default http://127.0.0.1:8233,http://localhost:8233
 *   --token-file FILE      RUNBOOK_CODEC_TOKEN_FILE, or the token itself in RUNBOOK_CODEC_TOKEN (required)
 *   payload keys:          RUNBOOK_CODEC_KEY or RUNBOOK_CODEC_KEY_FILE (as the worker)
 *   public sealing key:    RUNBOOK_SEALING_PUBLIC_KEY_FILE (default <RUNBOOK_DATA_DIR, else .data>/sealing.pub when it exists)
 *
 * It never reads RUNBOOK_SEALING_KEY_FILE: sealed passphrases stay sealed here.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AesGcmCodec, codecKeys } from '../common/codec.js';
import { sealingPublicKeyFromFile, sealingPublicKeyPath } from '../common/sealing.js';
import { parseSetting, readSettings, type Settings } from '../common/settings.js';
import { startCodecServer, type RunningCodecServer } from './server.js';

export const DEFAULT_ALLOWED_ORIGINS = ['http://127.0.0.1:8233', 'http://localhost:8233'];

/** What the codec server reads (common/settings.ts); never sealingKeyFile. */
const SETTING_NAMES = [
  'codecListen', 'codecPort', 'codecAllowedOrigins', 'codecToken', 'codecTokenFile', 'codecKey', 'codecKeyFile', 'sealingPublicKeyFile', 'dataDir',
] as const;

/** The token: RUNBOOK_CODEC_TOKEN, else the first line of RUNBOOK_CODEC_TOKEN_FILE (or --token-file). */
export function codecToken(settings: Pick<Settings, 'codecToken' | 'codecTokenFile'>): string {
  if (settings.codecToken) return settings.codecToken;
  if (settings.codecTokenFile) {
    try {
      return readFileSync(settings.codecTokenFile, 'utf8').split('\n')[0]!.trim();
    } catch (error) {
      throw new Error(`codec server token file ${settings.codecTokenFile}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  throw new Error('no codec server token: set RUNBOOK_CODEC_TOKEN or RUNBOOK_CODEC_TOKEN_FILE (npm start creates .data/codec.token)');
}

export async function runCodecServer(argv: string[], env = process.env): Promise<RunningCodecServer> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string' }, port: { type: 'string' }, 'allowed-origin': { type: 'string', multiple: true },
      'token-file': { type: 'string' }, help: { type: 'boolean' },
    },
  });
  const settings = readSettings(SETTING_NAMES, env);
  // Flags override the settings of the same meaning.
  const port = values.port !== undefined ? parseSetting('codecPort', values.port, '--port') : settings.codecPort;
  const allowedOrigins = values['allowed-origin'] ?? settings.codecAllowedOrigins ?? DEFAULT_ALLOWED_ORIGINS;
  const tokenFile = values['token-file'] !== undefined ? parseSetting('codecTokenFile', values['token-file'], '--token-file') : settings.codecTokenFile;
  const running = await startCodecServer({
    host: values.listen ?? settings.codecListen,
    port,
    allowedOrigins,
    token: codecToken({ codecToken: settings.codecToken, codecTokenFile: tokenFile }),
    codec: new AesGcmCodec(codecKeys(settings)),
    sealFor: sealingPublicKeyFromFile(sealingPublicKeyPath(settings)),
  });
  console.log(`codec server listening on ${running.url} (browsers allowed from: ${allowedOrigins.join(', ')})`);
  return running;
}

/** The command: runs until SIGINT/SIGTERM; exits 1 with a one-line message when it cannot start. */
export function main(argv = process.argv.slice(2)): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, '').trim());
    return;
  }
  runCodecServer(argv)
    .then((running) => {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.close().then(() => process.exit(0)));
    })
    .catch((error: unknown) => {
      console.error(`codec server: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
