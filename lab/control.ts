/**
 * The lab's control operations (what the runbook-lab CLI asks of a running lab): the lab-wide ones here (status,
 * power, audit), and those each capability registers (swap-disk...). Both the CLI and the lab check a call here.
 */
import type { ControlCall, ControlOperation, LabControl, StatusHost } from './core/capability.js';
import { capabilityOperations, simulatorFor } from './hosts/index.js';
import { commandMatcher, MAX_DELAY_MS, type InFlight } from './faults.js';
import type { ControlRequest } from './protocol.js';

const HOST = { name: 'HOST' };

interface Status { dir: string; inventory: string; hosts: StatusHost[] }
interface AuditLine { time: string; stage: string; command: string; exitCode: number }

const printPower = (result: unknown) => `now ${(result as { power: string }).power}`;

const labOperations: ControlOperation[] = [
  {
    name: 'status',
    params: [],
    help: 'hosts, power (stage), disks and arrays, LUKS volumes... (each kind\'s own)',
    run(lab): Status {
      return {
        dir: lab.dir,
        inventory: lab.inventoryPath,
        hosts: lab.hostNames().map((name) => {
          const state = lab.state(name);
          return {
            name, kind: state.kind, address: lab.address(name), up: lab.isUp(name), power: state.power,
            ...(state.neverComesBack ? { neverComesBack: true } : {}),
            ...simulatorFor(state).status(state),
          };
        }),
      };
    },
    print(result) {
      const status = result as Status;
      const lines = [`lab ${status.dir} (SIMULATED hosts), inventory ${status.inventory}`];
      for (const h of status.hosts) {
        lines.push('', `${h.name}  ${h.address}  ${h.up ? 'up' : 'DOWN'} (${h.power})${h.neverComesBack ? '  NEVER COMES BACK until power-on' : ''}`);
        lines.push(...simulatorFor(h).printStatus(h));
      }
      return lines.join('\n');
    },
  },
  {
    name: 'power-on',
    params: [HOST],
    help: 'press the power button of a host that is off; also repairs a host\nthat never comes back (clears the flag)',
    async run(lab, call) { await lab.powerOn(call.host); return { power: lab.stage(call.host) }; },
    print: printPower,
  },
  {
    name: 'power-cycle',
    params: [HOST],
    help: 'hard reset: down at once, then boots (unless it never comes back);\nunsticks an initramfs that gave up after too many wrong passphrases',
    async run(lab, call) { await lab.powerCycle(call.host); return { power: lab.stage(call.host) }; },
    print: printPower,
  },
  {
    name: 'never-comes-back',
    params: [HOST],
    flags: { clear: 'the host comes back again after a reboot' },
    help: 'after its next reboot or poweroff the host stays down until power-on',
    run(lab, call) { lab.setNeverComesBack(call.host, !call.flags.includes('clear')); return null; },
  },
  {
    name: 'audit',
    params: [HOST],
    help: 'every command the host received, with its exit code',
    run: (lab, call) => lab.audit(call.host),
    print: (result) => (result as AuditLine[]).map((e) => `${e.time}  ${e.stage.padEnd(8)}  exit ${String(e.exitCode).padEnd(3)}  ${e.command}`).join('\n'),
  },
  // Fault injection, for tests (lab/faults.ts).
  {
    name: 'slow',
    params: [
      { name: 'WHERE', check: (v) => (v === 'any' || /^[\w.-]+$/.test(v) ? null : 'WHERE is a lab host or "any"') },
      { name: 'PATTERN', check: (v) => { try { commandMatcher(v); return v ? null : 'PATTERN is empty'; } catch (e) { return `PATTERN: ${(e as Error).message}`; } } },
      { name: 'MS', check: (v) => (/^\d+$/.test(v) && Number(v) <= MAX_DELAY_MS ? null : `MS is a delay in milliseconds, at most ${MAX_DELAY_MS}`) },
      { name: 'TIMES', check: (v) => (v === 'all' || /^[1-9]\d{0,5}$/.test(v) ? null : 'TIMES is "all" or how many matching commands to slow') },
    ],
    help: 'hold each command matching PATTERN (/regex/ or a substring) on\nhost WHERE (or any) MS ms after it is received, before the host\napplies it and answers; only the first TIMES matches (or all)',
    run(lab, call) {
      const [where, pattern, ms, times] = call.args as [string, string, string, string];
      if (where !== 'any') lab.state(where); // an unknown host is refused
      lab.faults.slow({ host: where === 'any' ? null : where, pattern, delayMs: Number(ms), times: times === 'all' ? null : Number(times) });
      return null;
    },
  },
  {
    name: 'unslow',
    params: [],
    help: 'no command is slowed any more',
    run(lab) { lab.faults.clear(); return null; },
  },
  {
    name: 'in-flight',
    params: [],
    help: 'the commands received and not answered yet',
    run: (lab) => lab.faults.underWay(),
    print: (result) => (result as InFlight[]).map((c) => `${c.since}  ${c.host}  pid ${c.pid ?? '?'}  ${c.command}`).join('\n'),
  },
  {
    name: 'drop-session',
    params: [HOST, { name: 'PATTERN' }],
    help: 'kill the SSH session carrying the command under way on HOST that\nmatches PATTERN (a dropped connection); the host still applies it',
    run(lab, call) { lab.state(call.host); return { killed: lab.faults.dropSession(call.host, call.args[0]!) }; },
    print: (result) => `killed pid ${(result as { killed: number }).killed}`,
  },
];

/** Every operation: the lab's, then the capabilities' of every known host kind. */
export function controlOperations(): ControlOperation[] {
  const ops = [...labOperations, ...capabilityOperations()];
  const names = new Set<string>();
  for (const op of ops) {
    if (names.has(op.name)) throw new Error(`two control operations are named ${op.name}`);
    names.add(op.name);
  }
  return ops;
}

export function controlOperation(name: string): ControlOperation | undefined {
  return controlOperations().find((op) => op.name === name);
}

/** `swap-disk HOST SLOT [--rename-on-boot]` */
export function synopsis(op: ControlOperation): string {
  return [op.name, ...op.params.map((p) => p.name), ...Object.keys(op.flags ?? {}).map((f) => `[--${f}]`)].join(' ');
}

/** The call a request makes, checked: the right parameters, valid values, known options. Throws why not. */
export function checkCall(op: ControlOperation, request: Pick<ControlRequest, 'host' | 'args' | 'flags'>): ControlCall {
  const takesHost = op.params[0]?.name === 'HOST';
  if (takesHost && !request.host) throw new Error(`${op.name} needs a HOST`);
  const values = [...(takesHost ? [request.host!] : []), ...(request.args ?? [])];
  const names = op.params.map((p) => p.name).join(' ');
  if (values.length < op.params.length) throw new Error(`${op.name} needs ${names}`);
  if (values.length > op.params.length) throw new Error(names ? `${op.name} takes only ${names}` : `${op.name} takes no argument`);
  op.params.forEach((param, i) => {
    const why = param.check?.(values[i]!);
    if (why) throw new Error(why);
  });
  const flags = request.flags ?? [];
  const unknown = flags.find((f) => !Object.hasOwn(op.flags ?? {}, f));
  if (unknown) throw new Error(`${op.name} has no option --${unknown}`);
  return { host: takesHost ? values[0]! : '', args: values.slice(takesHost ? 1 : 0), flags };
}

/** Run a request in the lab. */
export async function runControl(lab: LabControl, request: ControlRequest): Promise<unknown> {
  const op = controlOperation(request.op);
  if (!op) throw new Error(`unknown control operation ${String(request.op)}`);
  return op.run(lab, checkCall(op, request));
}
