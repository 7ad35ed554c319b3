/**
 * How every client and worker reaches Temporal, configured the way the `temporal` CLI is: @temporalio/envconfig
 * reads the TOML profile (TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml; TEMPORAL_PROFILE, else
 * "default") and the standard variables over it (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS,
 * TEMPORAL_TLS_CLIENT_CERT_PATH / _KEY_PATH / SERVER_CA_CERT_PATH (or _DATA), TEMPORAL_TLS_SERVER_NAME,
 * TEMPORAL_GRPC_META_*). Nothing set: the local dev server, 127.0.0.1:7233, namespace "default".
 *
 * Always with our codec (payload encryption; keys from common/settings.ts) and our failure converter (plain
 * messages where they are ours and safe to read, the rest encrypted; common/failure-converter.ts). A profile's own
 * `codec` (a remote codec endpoint) is not used: ours runs in process.
 */
import { Connection, Client, type ConnectionOptions } from '@temporalio/client';
import { fileURLToPath } from 'node:url';
import { defaultPayloadConverter, type DataConverter, type LoadedDataConverter } from '@temporalio/common';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { AesGcmCodec, codecKeys } from './codec.js';
import { failureConverter } from './failure-converter.js';
import { CODEC_KEY_SETTINGS, readSettings, type CodecKeySettings } from './settings.js';

export const DEFAULT_ADDRESS = '127.0.0.1:7233';
export const DEFAULT_NAMESPACE = 'default';

/** Names this project read before it used envconfig: refused, so that a cluster does not silently lose its TLS. */
const RENAMED: Record<string, string> = {
  TEMPORAL_TLS_CERT: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
  TEMPORAL_TLS_KEY: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  TEMPORAL_TLS_CA: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
};

/** Where and how to connect; `tls`, `apiKey` and `metadata` are shaped for both Connection and NativeConnection. */
export interface TemporalSettings {
  address: string;
  namespace: string;
  /** Whether the address came from the environment or a profile (false: our dev-server default). */
  addressConfigured: boolean;
  tls?: ConnectionOptions['tls'];
  apiKey?: string;
  metadata?: Record<string, string>;
}

export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const renamed = Object.keys(RENAMED).filter((name) => env[name]);
  if (renamed.length) {
    throw new Error(`${renamed.map((name) => `${name} is no longer read: use ${RENAMED[name]}`).join('; ')} (the names the temporal CLI uses; see README "Configuration")`);
  }
  // An empty variable counts as unset, as for our own settings (envconfig would take "" as a value).
  const vars = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && (entry[1] !== '' || entry[0].startsWith('TEMPORAL_GRPC_META_'))));
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: vars });
  } catch (error) {
    throw new Error(`Temporal connection settings (TEMPORAL_* variables, temporal CLI profile): ${(error as Error).message}`);
  }
  const { connectionOptions: options, namespace } = loaded;
  return {
    address: options.address || DEFAULT_ADDRESS,
    namespace: namespace || DEFAULT_NAMESPACE,
    addressConfigured: Boolean(options.address),
    ...(options.tls !== undefined ? { tls: options.tls } : {}),
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    ...(options.metadata && Object.keys(options.metadata).length ? { metadata: options.metadata as Record<string, string> } : {}),
  };
}

/** The options both Connection.connect and NativeConnection.connect take. */
export interface ConnectOptions {
  address: string;
  tls?: ConnectionOptions['tls'];
  apiKey?: string;
  metadata?: Record<string, string>;
}

export function connectionOptions(settings: TemporalSettings): ConnectOptions {
  return {
    address: settings.address,
    ...(settings.tls !== undefined ? { tls: settings.tls } : {}),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
    ...(settings.metadata ? { metadata: settings.metadata } : {}),
  };
}

/** Parsed codec settings, or an environment to read them from (tests hand `{ RUNBOOK_CODEC_KEY_FILE: … }`). */
type CodecSource = CodecKeySettings | NodeJS.ProcessEnv;
const codecSettings = (from: CodecSource): CodecKeySettings =>
  'codecKey' in from || 'codecKeyFile' in from ? (from as CodecKeySettings) : readSettings(CODEC_KEY_SETTINGS, from as NodeJS.ProcessEnv);

/**
 * For workers: the converters go by path, because workflow code runs in its own sandbox. The codec refuses what
 * it did not decrypt, and the payload converter hands it to workflow code as a NotEncrypted value that
 * worker/interceptors.ts refuses.
 */
export function workerDataConverter(from: CodecSource = process.env): DataConverter {
  return {
    payloadCodecs: [new AesGcmCodec(codecKeys(codecSettings(from)), { refuseUnencrypted: true })],
    payloadConverterPath: fileURLToPath(new URL('./payload-converter.js', import.meta.url)),
    failureConverterPath: fileURLToPath(new URL('./failure-converter.js', import.meta.url)),
  };
}

/** For clients: the same converters, already loaded. */
export function clientDataConverter(from: CodecSource = process.env): LoadedDataConverter {
  return { payloadConverter: defaultPayloadConverter, failureConverter, payloadCodecs: [new AesGcmCodec(codecKeys(codecSettings(from)))] };
}

export async function connectClient(settings: TemporalSettings, codec: CodecKeySettings): Promise<Client> {
  const connection = await Connection.connect(connectionOptions(settings));
  return new Client({ connection, namespace: settings.namespace, dataConverter: clientDataConverter(codec) });
}
