/**
 * Xen's guests (domUs) and `xl list`, `xl shutdown [-w]`, `xl destroy`, `xl create`, as on the Xen page: guests that
 * take their time to shut down, or never do. A dom0 without guests answers `xl list` with Domain-0 alone.
 */
import type { Capability } from '../../core/capability.js';
import { fail, ok, type BaseHostState, type CommandResult } from '../../core/types.js';

/** A Xen guest, running or not, and the xl configuration it starts from. */
export interface XenDomain {
  name: string;
  /** `xl create CONFIG` starts it. */
  config: string;
  memMiB: number;
  vcpus: number;
  state: 'running' | 'shutting-down' | 'stopped';
  /** Domain id while it exists (running or shutting down). */
  id: number | null;
  /** How long the guest takes to shut down once asked. */
  shutdownMs: number;
  /** The guest ignores the shutdown request: only `xl destroy` stops it. */
  hangsOnShutdown?: boolean;
  startedAt?: number;
  shutdownRequestedAt?: number;
}

export interface XenDomainOptions {
  name: string;
  config?: string;
  memMiB?: number;
  vcpus?: number;
  shutdownMs?: number;
  hangsOnShutdown?: boolean;
  /** Running when the lab finds the dom0 (first boot); default true. */
  running?: boolean;
}

/** A host that may run Xen guests. */
export interface WithDomains extends BaseHostState {
  /** Xen guests (domUs); absent on presets without guests. */
  domains?: XenDomain[];
  /** The next domain id xl hands out: ids grow during a boot and are never reused. */
  nextDomainId?: number;
  bootedAt?: number;
}

/** The guests of a preset, as the first boot will find them. */
export function xenDomains(options: XenDomainOptions[]): XenDomain[] {
  return options.map((d): XenDomain => ({
    name: d.name,
    config: d.config ?? `/etc/xen/${d.name}.cfg`,
    memMiB: d.memMiB ?? 1024,
    vcpus: d.vcpus ?? 1,
    // Kept as the first boot's wish: boot() gives the running ones their ids.
    state: d.running === false ? 'stopped' : 'running',
    id: null,
    shutdownMs: d.shutdownMs ?? 2000,
    ...(d.hangsOnShutdown ? { hangsOnShutdown: true } : {}),
  }));
}

function stopDomain(d: XenDomain): void {
  d.state = 'stopped';
  d.id = null;
  delete d.startedAt;
  delete d.shutdownRequestedAt;
}

/** A domain by name or id, as xl accepts either; only domains that exist (running or shutting down). */
function findDomain(state: WithDomains, ident: string): XenDomain | undefined {
  return (state.domains ?? []).find((d) => d.state !== 'stopped' && (d.name === ident || String(d.id) === ident));
}

const invalidDomain = (ident: string) => fail(1, `${ident} is an invalid domain identifier (rc=-6)\n`);

/** xl's list_domains: `%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8.1f`, Domain-0 first, then by id. */
function renderXlList(state: WithDomains, now: number): string {
  const row = (name: string, id: number, mem: number, vcpus: number, flags: string, seconds: number) =>
    `${name.padEnd(40)} ${String(id).padStart(5)} ${String(mem).padStart(5)} ${String(vcpus).padStart(5)}     ${flags}  ${seconds.toFixed(1).padStart(8)}\n`;
  let out = 'Name                                        ID   Mem VCPUs\tState\tTime(s)\n';
  out += row('Domain-0', 0, 4096, 4, 'r-----', ((now - (state.bootedAt ?? now)) / 1000) * 0.05);
  const running = (state.domains ?? []).filter((d) => d.state !== 'stopped').sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
  for (const d of running) out += row(d.name, d.id ?? 0, d.memMiB, d.vcpus, '-b----', ((now - (d.startedAt ?? now)) / 1000) * 0.01);
  return out;
}

function cmdXl(state: WithDomains, args: string[], now: number): CommandResult {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'list':
      if (rest.length) return fail(1, 'runbook-lab: the lab simulates only "xl list" without arguments\n');
      return ok(renderXlList(state, now));
    case 'shutdown': {
      const wait = rest[0] === '-w';
      const idents = wait ? rest.slice(1) : rest;
      if (idents.length !== 1 || idents[0]!.startsWith('-')) return fail(1, 'runbook-lab: the lab simulates "xl shutdown [-w] DOMAIN"\n');
      const d = findDomain(state, idents[0]!);
      if (!d) return invalidDomain(idents[0]!);
      if (d.state === 'running') { d.state = 'shutting-down'; d.shutdownRequestedAt = now; }
      if (!wait) return ok('', `Shutting down domain ${d.id}\n`);
      // -w blocks until the guest is gone: the page warns it has no time limit. The lab answers at once,
      // as if it had waited, but cannot wait for ever on a guest that never stops.
      if (d.hangsOnShutdown) return fail(1, `Shutting down domain ${d.id}\nWaiting for 1 domains\nrunbook-lab: ${d.name} never shuts down: xl shutdown -w would wait for ever\n`);
      const id = d.id;
      stopDomain(d);
      return ok('', `Shutting down domain ${id}\nWaiting for 1 domains\nDomain ${id} has been shut down, reason code 0\n`);
    }
    case 'destroy': {
      if (rest.length !== 1) return fail(1, 'runbook-lab: the lab simulates "xl destroy DOMAIN"\n');
      if (rest[0] === '0' || rest[0] === 'Domain-0') return fail(1, 'Cannot destroy privileged domain 0\n');
      const d = findDomain(state, rest[0]!);
      if (!d) return invalidDomain(rest[0]!);
      stopDomain(d);
      return ok();
    }
    case 'create': {
      if (rest.length !== 1 || rest[0]!.startsWith('-')) return fail(1, 'runbook-lab: the lab simulates "xl create CONFIG"\n');
      const path = rest[0]!;
      const d = (state.domains ?? []).find((x) => x.config === path);
      if (!d) return fail(1, `Failed to read config file: ${path}: No such file or directory\n`);
      const parsing = `Parsing config from ${path}\n`;
      if (d.state !== 'stopped') return fail(1, `${parsing}Domain ${d.name} already exists\n`);
      d.state = 'running';
      d.id = state.nextDomainId ?? 1;
      state.nextDomainId = d.id + 1;
      d.startedAt = now;
      return ok('', parsing);
    }
    default:
      return fail(1, `runbook-lab: the lab simulates only xl list, shutdown, destroy and create, not "xl ${sub ?? ''}"\n`);
  }
}

export const xl: Capability<WithDomains> = {
  name: 'Xen guests',
  commands: {
    xl: (state, args, ctx) => cmdXl(state, args, ctx.now),
  },
  settle(state, now) {
    if (state.power === 'down') return;
    for (const d of state.domains ?? []) {
      if (d.state === 'shutting-down' && !d.hangsOnShutdown && (d.shutdownRequestedAt ?? now) + d.shutdownMs <= now) stopDomain(d);
    }
  },
  boot(state, now) {
    // No auto-start: after a reboot every guest waits for `xl create`. The first boot keeps the preset's
    // running guests (a dom0 found running them), created in the preset's order.
    state.nextDomainId = 1;
    for (const d of state.domains ?? []) {
      if (state.bootCount === 0 && d.state === 'running') { d.id = state.nextDomainId++; d.startedAt = now; } else stopDomain(d);
    }
    if (state.domains) state.bootedAt = now;
  },
};
