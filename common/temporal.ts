/**
 * How every client and worker reaches Temporal: the embedded dev server by default, or a production cluster
 * named by TEMPORAL_ADDRESS (namespace, TLS/mTLS or API key from the environment). Always with our codec and a
 * failure converter that encrypts error messages and stack traces too.
 */
import { readFileSync } from 'node:fs';
import { Connection, Client, type ConnectionOptions } from '@temporalio/client';
import { fileURLToPath } from 'node:url';
import { defaultPayloadConverter, type DataConverter, type LoadedDataConverter } from '@temporalio/common';
import { AesGcmCodec, codecKeysFromEnv } from './codec.js';
import { failureConverter } from './failure-converter.js';

export const TASK_QUEUE = 'runbooks';

export interface TemporalSettings {
  address: string;
  namespace: string;
  tls?: ConnectionOptions['tls'];
  apiKey?: string;
}

export function temporalSettings(env = process.env): TemporalSettings {
  const file = (name: string) => (env[name] ? readFileSync(env[name]!) : undefined);
  const cert = file('TEMPORAL_TLS_CERT');
  const key = file('TEMPORAL_TLS_KEY');
  const ca = file('TEMPORAL_TLS_CA');
  const wantsTls = Boolean(cert || ca || env.TEMPORAL_TLS === 'true' || env.TEMPORAL_API_KEY);
  return {
    address: env.TEMPORAL_ADDRESS || '127.0.0.1:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    tls: wantsTls
      ? {
          ...(env.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME } : {}),
          ...(ca ? { serverRootCACertificate: ca } : {}),
          ...(cert && key ? { clientCertPair: { crt: cert, key } } : {}),
        }
      : undefined,
    apiKey: env.TEMPORAL_API_KEY || undefined,
  };
}

/** For workers: the failure converter goes by path, because workflow code runs in its own sandbox. */
export function workerDataConverter(env = process.env): DataConverter {
  return {
    payloadCodecs: [new AesGcmCodec(codecKeysFromEnv(env))],
    failureConverterPath: fileURLToPath(new URL('./failure-converter.js', import.meta.url)),
  };
}

/** For clients: the same converters, already loaded. */
export function clientDataConverter(env = process.env): LoadedDataConverter {
  return { payloadConverter: defaultPayloadConverter, failureConverter, payloadCodecs: [new AesGcmCodec(codecKeysFromEnv(env))] };
}

export async function connect(env = process.env): Promise<Connection> {
  const settings = temporalSettings(env);
  return Connection.connect({
    address: settings.address,
    tls: settings.tls,
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  });
}

export async function connectClient(env = process.env): Promise<Client> {
  const connection = await connect(env);
  return new Client({ connection, namespace: temporalSettings(env).namespace, dataConverter: clientDataConverter(env) });
}
