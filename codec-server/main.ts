/**
 * runbook-codec-server (node dist/codec-server/main.js): the codec server for the Web UI and the temporal CLI.
 *
 *   --listen ADDR          RUNBOOK_CODEC_LISTEN            default 127.0.0.1
 *   --port N               RUNBOOK_CODEC_PORT              default 8234
 *   --allowed-origin URL   RUNBOOK_CODEC_ALLOWED_ORIGINS   comma-separated; default http://127.0.0.1:8233,http://localhost:8233
 *   --token-file FILE      RUNBOOK_CODEC_TOKEN_FILE, or the token itself in RUNBOOK_CODEC_TOKEN (required)
 *   payload keys:          RUNBOOK_CODEC_KEY or RUNBOOK_CODEC_KEY_FILE (as the worker)
 *   public sealing key:    RUNBOOK_SEALING_PUBLIC_KEY_FILE (default .data/sealing.pub when it exists)
 *
 * It never reads RUNBOOK_SEALING_KEY_FILE: sealed passphrases stay sealed here.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AesGcmCodec, codecKeysFromEnv } from '../common/codec.js';
import { sealingPublicKeyFromEnv } from '../common/sealing.js';
import { startCodecServer, type RunningCodecServer } from './server.js';

export const DEFAULT_CODEC_PORT = 8234;
export const DEFAULT_ALLOWED_ORIGINS = ['http://127.0.0.1:8233', 'http://localhost:8233'];

/** The token: RUNBOOK_CODEC_TOKEN, else the first line of RUNBOOK_CODEC_TOKEN_FILE (or --token-file). */
export function codecTokenFromEnv(env = process.env, tokenFile = env.RUNBOOK_CODEC_TOKEN_FILE): string {
  if (env.RUNBOOK_CODEC_TOKEN) return env.RUNBOOK_CODEC_TOKEN.trim();
  if (tokenFile) {
    try {
      return readFileSync(tokenFile, 'utf8').split('\n')[0]!.trim();
    } catch (error) {
      throw new Error(`codec server token file ${tokenFile}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
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
  const portText = values.port ?? env.RUNBOOK_CODEC_PORT ?? String(DEFAULT_CODEC_PORT);
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`codec server port "${portText}" is not a port number`);
  const allowedOrigins = values['allowed-origin'] ?? (env.RUNBOOK_CODEC_ALLOWED_ORIGINS ? env.RUNBOOK_CODEC_ALLOWED_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean) : DEFAULT_ALLOWED_ORIGINS);
  const running = await startCodecServer({
    host: values.listen ?? env.RUNBOOK_CODEC_LISTEN ?? '127.0.0.1',
    port,
    allowedOrigins,
    token: codecTokenFromEnv(env, values['token-file'] ?? env.RUNBOOK_CODEC_TOKEN_FILE),
    codec: new AesGcmCodec(codecKeysFromEnv(env)),
    sealFor: sealingPublicKeyFromEnv(env),
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
