/**
 * A guest's firewall through pvesh (page: "Sécurité et pare-feu hyperviseur"): the IPSet ipfilter-net0 with the
 * guest's IP, and the options (firewall, MAC and IP filters on, DHCP and router advertisements off, input ACCEPT).
 * PVE keeps them in /etc/pve/firewall/VMID.fw: here on the guest object, so they follow a migration. Every answer
 * carries the digest of that file, as the API's does.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { fail, ok, type CommandResult } from '../../core/types.js';
import { badParameters } from './cli.js';
import type { PveFirewall, PveGuest } from './cluster.js';

const BOOLEAN_OPTIONS = ['enable', 'dhcp', 'ipfilter', 'macfilter', 'ndp', 'radv'];
const POLICIES = ['ACCEPT', 'REJECT', 'DROP'];
const LOG_LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug', 'nolog'];
const ENUM_OPTIONS: Record<string, string[]> = { policy_in: POLICIES, policy_out: POLICIES, log_level_in: LOG_LEVELS, log_level_out: LOG_LEVELS };
const IPSET_NAME = /^[A-Za-z][A-Za-z0-9_-]+$/;

/** The request pvesh makes: verb, the path below /nodes/NODE/TYPE/VMID/firewall, and the parameters. */
export interface FirewallRequest { verb: string; path: string; params: Map<string, string>; usage: string }

/** The guest's VMID.fw as PVE writes it: what the digest is taken of. */
function fwFile(fw: PveFirewall): string {
  let out = '';
  const keys = Object.keys(fw.options).sort();
  if (keys.length) out += `[OPTIONS]\n\n${keys.map((k) => `${k}: ${fw.options[k]}\n`).join('')}\n`;
  for (const set of fw.ipsets) out += `[IPSET ${set.name}]\n\n${set.cidrs.map((c) => `${c}\n`).join('')}\n`;
  return out;
}
const digestOf = (fw: PveFirewall) => createHash('sha1').update(fwFile(fw)).digest('hex');
const json = (value: unknown) => ok(`${JSON.stringify(value)}\n`);
const EMPTY: PveFirewall = { ipsets: [], options: {} };

/** Parameters the endpoint does not take, as the API schema refuses them. */
function unknownParams(params: Map<string, string>, allowed: string[]): string[] {
  return [...params.keys()].filter((k) => !allowed.includes(k)).map((k) => `${k}: property is not defined in schema and the schema does not allow additional properties`);
}

/** `1|0` and the other spellings PVE's boolean type takes. */
function boolean(v: string): 0 | 1 | null {
  if (/^(1|true|yes|on)$/i.test(v)) return 1;
  if (/^(0|false|no|off)$/i.test(v)) return 0;
  return null;
}

function setOptions(g: PveGuest, req: FirewallRequest): CommandResult {
  const known = [...BOOLEAN_OPTIONS, ...Object.keys(ENUM_OPTIONS)];
  const errors = unknownParams(req.params, [...known, 'delete', 'digest']);
  const changes: Record<string, string | number> = {};
  for (const [k, v] of req.params) {
    if (BOOLEAN_OPTIONS.includes(k)) {
      const b = boolean(v);
      if (b === null) errors.push(`${k}: type check ('boolean') failed - got '${v}'`); else changes[k] = b;
    } else if (ENUM_OPTIONS[k]) {
      if (!ENUM_OPTIONS[k].includes(v)) errors.push(`${k}: value '${v}' does not have a value in the enumeration '${ENUM_OPTIONS[k].join(', ')}'`);
      else changes[k] = v;
    }
  }
  const deleted = req.params.get('delete')?.split(/[,;\s]+/).filter(Boolean) ?? [];
  for (const k of deleted) if (!known.includes(k)) errors.push(`delete: invalid format - invalid configuration ID '${k}'`);
  if (errors.length) return badParameters(errors, req.usage);
  const fw = (g.firewall ??= structuredClone(EMPTY));
  const digest = req.params.get('digest');
  if (digest !== undefined && digest !== digestOf(fw)) return fail(255, 'detected modified configuration - file changed by other user? Try again.\n');
  for (const k of deleted) delete fw.options[k];
  Object.assign(fw.options, changes);
  return ok();
}

function getOptions(g: PveGuest): CommandResult {
  const fw = g.firewall ?? EMPTY;
  const options = Object.fromEntries(Object.keys(fw.options).sort().map((k) => [k, fw.options[k]]));
  return json({ ...options, digest: digestOf(fw) });
}

function createIpset(g: PveGuest, req: FirewallRequest): CommandResult {
  const errors = unknownParams(req.params, ['name']);
  const name = req.params.get('name');
  if (name === undefined) errors.push('name: property is missing and it is not optional');
  else if (!IPSET_NAME.test(name)) errors.push(`name: value does not match the regex pattern`);
  if (errors.length) return badParameters(errors, req.usage);
  const fw = (g.firewall ??= structuredClone(EMPTY));
  if (fw.ipsets.some((s) => s.name === name)) return fail(255, `IPSet '${name}' already exists\n`);
  fw.ipsets.push({ name: name!, cidrs: [] });
  return ok();
}

/** An address or a network, v4 or v6, with a prefix that fits it. */
function validCidr(cidr: string): boolean {
  const [ip = '', prefix, ...rest] = cidr.split('/');
  const family = isIP(ip);
  if (!family || rest.length) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

function addCidr(g: PveGuest, set: string, req: FirewallRequest): CommandResult {
  const errors = unknownParams(req.params, ['cidr']);
  const cidr = req.params.get('cidr');
  if (cidr === undefined) errors.push('cidr: property is missing and it is not optional');
  else if (!validCidr(cidr)) errors.push(`cidr: invalid format - value does not look like a valid IP address or CIDR network`);
  if (errors.length) return badParameters(errors, req.usage);
  const ipset = g.firewall?.ipsets.find((s) => s.name === set);
  if (!ipset) return fail(255, `no such IPSet '${set}'\n`);
  if (ipset.cidrs.includes(cidr!)) return badParameters([`cidr: address '${cidr}' already exists`], req.usage);
  ipset.cidrs.push(cidr!);
  return ok();
}

/** The firewall endpoints of one guest; null for a path or verb they do not have (pvesh's own "no handler"). */
export function guestFirewall(g: PveGuest, req: FirewallRequest): CommandResult | null {
  const fw = g.firewall ?? EMPTY;
  const digest = digestOf(fw);
  const { verb, path } = req;
  if (path === '/options') return verb === 'get' ? getOptions(g) : verb === 'set' ? setOptions(g, req) : null;
  if (path === '/ipset') {
    if (verb === 'get') return json([...fw.ipsets].sort((a, b) => a.name.localeCompare(b.name)).map((s) => ({ name: s.name, digest })));
    return verb === 'create' ? createIpset(g, req) : null;
  }
  const set = /^\/ipset\/([^/]+)$/.exec(path)?.[1];
  if (set === undefined) return null;
  if (verb === 'get') {
    const ipset = fw.ipsets.find((s) => s.name === set);
    return ipset ? json(ipset.cidrs.map((cidr) => ({ cidr, digest }))) : fail(255, `no such IPSet '${set}'\n`);
  }
  return verb === 'create' ? addCidr(g, set, req) : null;
}
