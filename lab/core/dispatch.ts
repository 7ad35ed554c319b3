/**
 * The base dispatcher: a host kind made of capabilities. It asks each capability in turn for a command, then answers
 * what every host answers the same way: `hostname`, `reboot`, `poweroff`, the kernel's boot id, `cat` of a file
 * nobody simulates, and "command not found". The initramfs (dropbear stage) has its own, smaller shell.
 */
import { createHash } from 'node:crypto';
import type { Capability, StatusHost } from './capability.js';
import { fail, ok, type BaseHostState, type CommandResult, type ExecContext, type HostKind, type NeedStdin } from './types.js';

const BOOT_ID = '/proc/sys/kernel/random/boot_id';

/** The kernel's boot id: a UUID per boot, from the host and its boot count; every host kind answers with it. */
export function kernelBootId(state: BaseHostState): string {
  const hex = createHash('sha256').update(`${state.name}/${state.bootCount}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A simulated host kind: its capabilities, composed. */
export interface HostSimulator<S extends BaseHostState = BaseHostState> {
  readonly kind: HostKind;
  readonly capabilities: readonly Capability<S>[];
  /** Run one already tokenized command against the state (mutating it), in ctx.stage. */
  exec(state: S, argv: string[], ctx: ExecContext): CommandResult | NeedStdin;
  /** Bring lazy, time-driven state (e.g. RAID recovery) up to `now`. */
  settle(state: S, now: number): void;
  /** The machine (re)boots: devices are enumerated again, the boot count goes up. */
  boot(state: S, now: number): void;
  /** Where the boot just done stops: the initramfs (dropbear) or the system (OpenSSH). */
  bootStage(state: S): 'dropbear' | 'openssh';
  /** The machine loses power. */
  powerOff(state: S): void;
  usesDropbear(state: S): boolean;
  /** The capabilities' part of `runbook-lab status`. */
  status(state: S): Record<string, unknown>;
  /** The CLI's lines for one host of the status reply. */
  printStatus(host: StatusHost): string[];
}

export function composeKind<S extends BaseHostState>(kind: HostKind, capabilities: readonly Capability<S>[]): HostSimulator<S> {
  const caps = [...capabilities];
  const catHint = caps.find((c) => c.catHint)?.catHint ?? `${BOOT_ID} here`;

  function system(state: S, argv: string[], ctx: ExecContext): CommandResult | NeedStdin {
    const [cmd0, ...args] = argv;
    const cmd = cmd0!.replace(/^\/(usr\/)?s?bin\//, '');
    for (const cap of caps) {
      const out = cap.commands?.[cmd]?.(state, args, ctx);
      if (out) return out;
    }
    switch (cmd) {
      case 'cat': {
        if (args.length === 1) {
          for (const cap of caps) {
            const text = cap.files?.[args[0]!]?.(state, ctx);
            if (text != null) return ok(text);
          }
          if (args[0] === BOOT_ID) return ok(`${kernelBootId(state)}\n`);
        }
        return fail(1, `cat: ${args.join(' ')}: the lab only simulates ${catHint}\n`);
      }
      case 'hostname':
        return ok(`${state.name}\n`);
      case 'reboot':
        return { ...ok(), after: 'reboot' };
      case 'poweroff':
        return { ...ok(), after: 'poweroff' };
      default:
        return fail(127, `bash: ${cmd0}: command not found\n`);
    }
  }

  /** BusyBox in the initramfs: the boot id, and what the capabilities put there (cryptroot-unlock). */
  function initramfs(state: S, argv: string[], ctx: ExecContext): CommandResult | NeedStdin {
    const [cmd, ...args] = argv;
    if (cmd === 'cat' && args.length === 1 && args[0] === BOOT_ID) return ok(`${kernelBootId(state)}\n`);
    for (const cap of caps) {
      const out = cmd === undefined ? null : cap.initramfs?.[cmd]?.(state, args, ctx);
      if (out) return out;
    }
    return fail(127, `sh: ${cmd ?? ''}: not found\n`);
  }

  return {
    kind,
    capabilities: caps,
    exec: (state, argv, ctx) => (ctx.stage === 'dropbear' ? initramfs(state, argv, ctx) : system(state, argv, ctx)),
    settle(state, now) { for (const cap of caps) cap.settle?.(state, now); },
    boot(state, now) {
      for (const cap of caps) cap.boot?.(state, now);
      state.bootCount += 1;
    },
    bootStage: (state) => (caps.some((c) => c.waitsInInitramfs?.(state)) ? 'dropbear' : 'openssh'),
    powerOff(state) { for (const cap of caps) cap.powerOff?.(state); },
    usesDropbear: (state) => caps.some((c) => c.usesDropbear?.(state)),
    status: (state) => Object.assign({}, ...caps.map((c) => c.status?.(state) ?? {})),
    printStatus: (host) => caps.flatMap((c) => c.printStatus?.(host) ?? []),
  };
}
