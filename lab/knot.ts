/**
 * The lab's authoritative DNS server: Debian's Knot with a config of its own (nothing of /etc/knot is read), on
 * one loopback address, serving the lab zone and taking RFC 2136 updates signed with the lab's TSIG key only.
 * Updates are written back to the zone file (and journal) in the lab folder, so they outlive a lab restart.
 */
import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isLoopback } from '../activities/mail.js';
import { spawnTetheredDaemon } from '../common/tether.js';
import { killRecorded, stopDaemon, waitForPort } from './daemons.js';

export interface ZoneRecord {
  /** Relative to the zone ('@' for its apex). */
  name: string;
  type: 'A' | 'NS' | 'TXT';
  value: string;
}

export interface KnotOptions {
  dir: string;
  address: string;
  port?: number;
  /** e.g. lab.invalid (no trailing dot). */
  zone: string;
  /** Records besides SOA and NS, written when the zone file is created; a later start keeps the file as updates left it. */
  records: ZoneRecord[];
}

export interface Knot {
  readonly host: string;
  readonly port: number;
  readonly zone: string;
  /** The TSIG key's name and algorithm, and its file in knsupdate's `-k` format (`alg:name:secret`). */
  readonly tsig: { name: string; algorithm: 'hmac-sha256'; keyFile: string };
  stop(): Promise<void>;
}

export const TSIG_NAME = 'runbook-lab-update';

/** A TXT value as zone-file strings: at most 255 bytes each (RFC 1035), quoted. */
function txt(value: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 250) parts.push(`"${value.slice(i, i + 250).replace(/(["\\])/g, '\\$1')}"`);
  return parts.join(' ');
}

export async function startKnot(o: KnotOptions): Promise<Knot> {
  const port = o.port ?? 53;
  // It takes updates from anyone with the key: loopback only, never another address.
  if (!isLoopback(o.address)) throw new Error(`the lab's DNS server listens on loopback only, not ${o.address}`);
  const knotDir = join(o.dir, 'dns');
  const runDir = join(o.dir, 'run');
  const keys = join(o.dir, 'keys');
  for (const d of [knotDir, join(knotDir, 'db'), runDir, keys]) mkdirSync(d, { recursive: true });

  const keyFile = join(keys, 'dns-tsig.key');
  if (!existsSync(keyFile)) writeFileSync(keyFile, `hmac-sha256:${TSIG_NAME}:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const secret = readFileSync(keyFile, 'utf8').trim().split(':')[2]!;

  const zoneFile = join(knotDir, `${o.zone}.zone`);
  if (!existsSync(zoneFile)) {
    writeFileSync(zoneFile, [
      `$ORIGIN ${o.zone}.`,
      '$TTL 60',
      `@ SOA ns.${o.zone}. hostmaster.${o.zone}. ${Math.floor(Date.now() / 1000)} 3600 600 86400 60`,
      `@ NS ns.${o.zone}.`,
      `ns A ${o.address}`,
      ...o.records.map((r) => `${r.name} ${r.type} ${r.type === 'TXT' ? txt(r.value) : r.value}`),
      '',
    ].join('\n'));
  }
  const config = join(knotDir, 'knot.conf');
  writeFileSync(config, [
    '# runbook-lab: the lab zone (lab/knot.ts); nothing of /etc/knot is read',
    'server:',
    `    rundir: "${runDir}"`,
    `    pidfile: "${join(runDir, 'knotd.daemon.pid')}"`,
    `    listen: ${o.address}@${port}`,
    'database:',
    `    storage: "${join(knotDir, 'db')}"`,
    'log:',
    '  - target: stderr',
    '    any: warning',
    'key:',
    `  - id: ${TSIG_NAME}`,
    '    algorithm: hmac-sha256',
    `    secret: ${secret}`,
    'acl:',
    '  - id: tsig-update',
    `    key: ${TSIG_NAME}`,
    '    action: [update, transfer]',
    'zone:',
    `  - domain: ${o.zone}`,
    `    file: "${zoneFile}"`,
    // Updates go to the file at once, and its serial is ours to bump.
    '    zonefile-sync: 0',
    '    serial-policy: increment',
    '    acl: tsig-update',
    '',
  ].join('\n'), { mode: 0o600 });

  const pidFile = join(runDir, 'knotd.pid');
  killRecorded(pidFile, 'knotd');
  // knotd's own pid file holds its pid inside its PID namespace (1), alive here: left over, it would refuse to start.
  rmSync(join(runDir, 'knotd.daemon.pid'), { force: true });
  const child: ChildProcess = spawnTetheredDaemon('/usr/sbin/knotd', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => { stderr = (stderr + c).slice(-4000); });
  child.on('error', (e) => { stderr += String(e); });
  if (child.pid) writeFileSync(pidFile, `${child.pid}\n`);
  // Knot answers over TCP too: listening there means the zone is being served.
  await waitForPort('knotd', o.address, port, child, 10_000, () => stderr);
  return {
    host: o.address,
    port,
    zone: o.zone,
    tsig: { name: TSIG_NAME, algorithm: 'hmac-sha256', keyFile },
    stop: () => stopDaemon(child, pidFile),
  };
}
