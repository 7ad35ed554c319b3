/** Configuration: our RUNBOOK_* settings (common/settings.ts) and the Temporal connection through envconfig (common/temporal.ts). */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSettings, SETTINGS } from '../common/settings.js';
import { temporalSettings } from '../common/temporal.js';
import { tempDir } from './helpers/runbooks.js';

describe('our settings', () => {
  it('one RUNBOOK_* name each', () => {
    const names = Object.values(SETTINGS).map((s) => s.env);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^RUNBOOK_[A-Z_]+$/);
  });

  it('README\'s configuration table lists every one', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Real hosts'));
    for (const { env } of Object.values(SETTINGS)) expect(table, env).toMatch(new RegExp(`^\\|[^\\n]*\`${env}\``, 'm'));
  });

  it('fills defaults, takes an empty variable as unset, resolves paths, and parses numbers and lists', () => {
    const settings = readSettings(['taskQueue', 'codecPort', 'labSubnet', 'inventory', 'codecAllowedOrigins', 'labDir'], {
      RUNBOOK_TASK_QUEUE: '', RUNBOOK_CODEC_PORT: '9000', RUNBOOK_LAB_SUBNET: '214', RUNBOOK_INVENTORY: 'inv.json',
      RUNBOOK_CODEC_ALLOWED_ORIGINS: 'http://a:1, http://b:2,', RUNBOOK_LAB_DIR: '/tmp/second-lab',
    });
    expect(settings).toEqual({
      taskQueue: 'runbooks', codecPort: 9000, labSubnet: 214, inventory: resolve('inv.json'),
      codecAllowedOrigins: ['http://a:1', 'http://b:2'], labDir: '/tmp/second-lab',
    });
    expect(readSettings(['dataDir', 'codecKey'], {})).toEqual({ dataDir: expect.stringMatching(/\/\.data$/), codecKey: undefined });
  });

  it('refuses a bad value, naming the variable, and reads only the names asked for', () => {
    expect(() => readSettings(['codecPort', 'labSubnet'], { RUNBOOK_CODEC_PORT: 'http', RUNBOOK_LAB_SUBNET: '300' }))
      .toThrow(/bad setting:\nRUNBOOK_CODEC_PORT: must be a port number \(0-65535\)\nRUNBOOK_LAB_SUBNET: /);
    expect(readSettings(['taskQueue'], { RUNBOOK_CODEC_PORT: 'http' })).toEqual({ taskQueue: 'runbooks' });
  });
});

describe('the Temporal connection (envconfig)', () => {
  const noFile = { TEMPORAL_CONFIG_FILE: '/nonexistent/temporal.toml' };

  it('defaults to the local dev server', () => {
    expect(temporalSettings(noFile)).toEqual({ address: '127.0.0.1:7233', namespace: 'default', addressConfigured: false });
  });

  it('reads the standard variables: address, namespace, API key (TLS on), client certificate, server name, gRPC metadata', () => {
    const dir = tempDir('settings');
    writeFileSync(join(dir, 'client.pem'), 'CERT');
    writeFileSync(join(dir, 'client.key'), 'KEY');
    const settings = temporalSettings({
      ...noFile, TEMPORAL_ADDRESS: 'temporal.example.org:7233', TEMPORAL_NAMESPACE: 'runbooks', TEMPORAL_API_KEY: 'k',
      TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.key'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal', TEMPORAL_GRPC_META_X_TEAM: 'ops',
    });
    expect(settings).toMatchObject({ address: 'temporal.example.org:7233', namespace: 'runbooks', addressConfigured: true, apiKey: 'k', metadata: { 'x-team': 'ops' } });
    // Uint8Arrays from envconfig: both connections copy them into Buffers.
    const tls = settings.tls as { serverNameOverride?: string; clientCertPair?: { crt: Uint8Array; key: Uint8Array } };
    expect(tls.serverNameOverride).toBe('temporal');
    expect(Buffer.from(tls.clientCertPair!.crt).toString()).toBe('CERT');
    expect(Buffer.from(tls.clientCertPair!.key).toString()).toBe('KEY');
    expect(temporalSettings({ ...noFile, TEMPORAL_API_KEY: 'k' }).tls).toBe(true);
  });

  it('reads a TOML profile, with the variables over it', () => {
    const file = join(tempDir('settings'), 'temporal.toml');
    writeFileSync(file, '[profile.default]\naddress = "a.example.org:7233"\nnamespace = "one"\n\n[profile.prod]\naddress = "p.example.org:7233"\nnamespace = "two"\napi_key = "pk"\n');
    expect(temporalSettings({ TEMPORAL_CONFIG_FILE: file })).toMatchObject({ address: 'a.example.org:7233', namespace: 'one', addressConfigured: true });
    expect(temporalSettings({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' })).toMatchObject({ address: 'p.example.org:7233', namespace: 'two', apiKey: 'pk', tls: true });
    expect(temporalSettings({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_NAMESPACE: 'three' }).namespace).toBe('three');
  });

  it('names the settings when a file they name cannot be read', () => {
    expect(() => temporalSettings({ ...noFile, TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/nonexistent/ca.pem' }))
      .toThrow(/^Temporal connection settings \(TEMPORAL_\* variables, temporal CLI profile\): ENOENT.*\/nonexistent\/ca\.pem/);
  });

  it('refuses the names this project used before, naming the standard one', () => {
    expect(() => temporalSettings({ ...noFile, TEMPORAL_TLS_CA: '/etc/ca.pem', TEMPORAL_TLS_KEY: '/etc/k.pem' }))
      .toThrow('TEMPORAL_TLS_KEY is no longer read: use TEMPORAL_TLS_CLIENT_KEY_PATH; TEMPORAL_TLS_CA is no longer read: use TEMPORAL_TLS_SERVER_CA_CERT_PATH');
  });
});
