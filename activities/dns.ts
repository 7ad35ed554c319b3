/**
 * DNS records by RFC 2136 dynamic update signed with TSIG, as BIND, Knot and PowerDNS take scripted changes.
 * No npm library signs TSIG updates and is well kept, so this runs Debian's `knsupdate` (knot-dnsutils) with its
 * script on stdin (no shell; the key stays in its file, never in argv or history). Check before act: a record
 * already right is left alone; a name pointing elsewhere is refused, never overwritten. Verified by a query after.
 */
import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import type { Inventory } from '../common/inventory.js';
import { failure } from '../common/failures.js';

export interface DnsRecordResult {
  name: string;
  ip: string;
  /** False when the record was already there. */
  changed: boolean;
}

/** One label under the zone (REF-HOST-VM-42): letters, digits and dashes, as host names are. */
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function knsupdate(keyFile: string, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('knsupdate', ['-k', keyFile], { timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error) reject(failure('CommandFailed', `knsupdate failed: ${(stderr || error.message).trim().slice(0, 500)}`));
      else resolve();
    });
    child.stdin!.end(script);
  });
}

export function dnsActivities(inventory: Inventory) {
  function settings() {
    const dns = inventory.dns;
    if (!dns) throw failure('InvalidInput', 'the inventory has no dns section: no zone to update');
    const resolver = new Resolver({ timeout: 3000, tries: 2 });
    resolver.setServers([dns.server.includes(':') ? `[${dns.server}]:${dns.port}` : `${dns.server}:${dns.port}`]);
    return { dns, resolver };
  }

  /** The name's A records on the zone's server ([] when it has none). */
  async function addresses(resolver: Resolver, fqdn: string): Promise<string[]> {
    try {
      return (await resolver.resolve4(fqdn)).sort();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
      throw failure('CommandFailed', `DNS query for ${fqdn} failed: ${code ?? (error as Error).message}`);
    }
  }

  return {
    /**
     * Every A record's address in the zone, by a TSIG-signed zone transfer (kdig AXFR, the key in its file): an
     * address in DNS is in use even when no instance has it.
     */
    async zoneAddresses(): Promise<string[]> {
      const { dns } = settings();
      const out = await new Promise<string>((resolve, reject) => {
        execFile('kdig', ['-k', dns.tsigKeyFile, `@${dns.server}`, '-p', String(dns.port), 'AXFR', `${dns.zone}.`, '+noall', '+answer'], { timeout: 30_000 }, (error, stdout, stderr) => {
          if (error || /;; ERROR|failed/i.test(stdout + stderr)) reject(failure('CommandFailed', `zone transfer of ${dns.zone} failed: ${(stderr || stdout || error?.message || '').trim().slice(0, 500)}`));
          else resolve(stdout);
        });
      });
      return [...new Set(out.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[3] === 'A' && isIPv4(f[4] ?? '')).map((f) => f[4]!))].sort();
    },

    /** `LABEL.zone A IP`, added unless already there; verified by a query once sent. */
    async ensureARecord(input: { label: string; ip: string; ttl?: number }): Promise<DnsRecordResult> {
      const { dns, resolver } = settings();
      if (!LABEL.test(input.label)) throw failure('InvalidInput', `label: "${input.label.slice(0, 80)}" is not a DNS label (letters, digits, dashes)`);
      if (!isIPv4(input.ip)) throw failure('InvalidInput', `ip: "${input.ip.slice(0, 80)}" is not an IPv4 address`);
      const ttl = input.ttl ?? 300;
      const fqdn = `${input.label}.${dns.zone}`.toLowerCase();
      const before = await addresses(resolver, fqdn);
      if (before.length === 1 && before[0] === input.ip) return { name: fqdn, ip: input.ip, changed: false };
      if (before.length) throw failure('DnsConflict', `${fqdn} already has A ${before.join(', ')}: not changed (a person must decide)`);
      // The prerequisite makes the update a no-op if the name got an A record since our query (another attempt).
      await knsupdate(dns.tsigKeyFile, [
        `server ${dns.server} ${dns.port}`,
        `zone ${dns.zone}.`,
        `prereq nxrrset ${fqdn}. A`,
        `update add ${fqdn}. ${ttl} A ${input.ip}`,
        'send',
        '',
      ].join('\n')).catch(async (error: unknown) => {
        // YXRRSET: the record appeared meanwhile; the query below says whether it is ours.
        if (!/YXRRSET/i.test(String((error as Error).message))) throw error;
      });
      const after = await addresses(resolver, fqdn);
      if (after.length !== 1 || after[0] !== input.ip) {
        throw failure('CommandFailed', `after the update, ${fqdn} answers ${after.join(', ') || 'nothing'} instead of ${input.ip}`);
      }
      return { name: fqdn, ip: input.ip, changed: true };
    },
  };
}

export type DnsActivities = ReturnType<typeof dnsActivities>;
