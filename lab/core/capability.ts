/**
 * A capability is one small piece of a simulated host (disks and mdadm RAID, LUKS and dropbear, Xen's xl, Proxmox...):
 * the commands it answers, the files `cat` shows, what it does at boot, power-off and as time passes, what it adds to
 * the lab's status, and the control operations (runbook-lab swap-disk...) that act on it. A host kind is a list of
 * capabilities (dispatch.ts composes them); a capability never knows which kinds use it.
 */
import type { CommandFaults } from '../faults.js';
import type { BaseHostState, CommandResult, ExecContext, HostKind, NeedStdin } from './types.js';

/** One command of a capability. `null`: not one this capability simulates (e.g. other arguments): ask the next one. */
export type CommandHandler<S> = (state: S, args: string[], ctx: ExecContext) => CommandResult | NeedStdin | null;

/** A file `cat` shows; null when the host has no such file (e.g. no LUKS volume, no /etc/crypttab). */
export type FileReader<S> = (state: S, ctx: ExecContext) => string | null;

export interface Capability<S extends BaseHostState = BaseHostState> {
  /** For people and errors: 'disks in slots', 'LUKS volumes'. */
  readonly name: string;
  /** Commands of the running system, by program name without its /usr/sbin/ (or /bin/...) prefix. */
  readonly commands?: Readonly<Record<string, CommandHandler<S>>>;
  /** Commands of the initramfs (dropbear stage), by program name as typed. */
  readonly initramfs?: Readonly<Record<string, CommandHandler<S>>>;
  /** Files `cat PATH` shows. */
  readonly files?: Readonly<Record<string, FileReader<S>>>;
  /** What `cat` names when it refuses a file the lab does not simulate, for the capability a host is mostly about. */
  readonly catHint?: string;
  /** Bring lazy, time-driven state (e.g. a RAID recovery) up to `now`. */
  settle?(state: S, now: number): void;
  /** The machine (re)boots; `state.bootCount` is still the count before this boot (0: the lab finds the host running). */
  boot?(state: S, now: number): void;
  /** The machine loses power: device names, mappings... are gone. */
  powerOff?(state: S): void;
  /** After boot(): the host waits in its initramfs (dropbear) instead of running its system. */
  waitsInInitramfs?(state: S): boolean;
  /** The host may boot into a dropbear initramfs at some point (its client key must be in dropbear's keys). */
  usesDropbear?(state: S): boolean;
  /** What `runbook-lab status` shows of this capability (plain JSON). */
  status?(state: S): Record<string, unknown>;
  /** The CLI's lines for that status; `host` is one host of the status reply. */
  printStatus?(host: StatusHost): string[];
  /** Control operations acting on this capability: `runbook-lab swap-disk HOST SLOT`. */
  readonly controls?: readonly ControlOperation[];
}

/** One host of the status reply: the lab's own fields plus what each capability's status() added. */
export interface StatusHost {
  name: string;
  kind: HostKind;
  address: string;
  up: boolean;
  power: string;
  neverComesBack?: boolean;
  [field: string]: unknown;
}

/** What a control operation may do with the lab (the Lab class implements it). */
export interface LabControl {
  readonly dir: string;
  readonly inventoryPath: string;
  hostNames(): string[];
  /** The host's state settled to now; throws `unknown lab host X`. */
  state<S extends BaseHostState = BaseHostState>(host: string): S;
  /** Change the host's state (settled to now first), then save it. */
  update<S extends BaseHostState, T>(host: string, change: (state: S, now: number) => T): T;
  capabilities(host: string): readonly Capability<any>[];
  address(host: string): string;
  isUp(host: string): boolean;
  stage(host: string): 'down' | 'openssh' | 'dropbear';
  powerOn(host: string): Promise<void>;
  powerCycle(host: string): Promise<void>;
  setNeverComesBack(host: string, never: boolean): void;
  audit(host: string): unknown[];
  /** Slow commands, commands under way (tests' fault injection). */
  readonly faults: CommandFaults;
}

/** A control operation as the CLI parses it and the lab runs it. */
export interface ControlCall {
  /** The lab host, for operations whose first parameter is HOST. */
  host: string;
  /** The other parameters, checked. */
  args: string[];
  /** Boolean options given (without their --). */
  flags: string[];
}

export interface ControlParam {
  name: string;
  /** Why the value is not acceptable, or null. */
  check?(value: string): string | null;
}

export interface ControlOperation {
  /** The CLI word: `swap-disk`. */
  readonly name: string;
  /** The parameters after the name; a first one named HOST is a lab host. */
  readonly params: readonly ControlParam[];
  /** Boolean options, by name without their --, with their help. */
  readonly flags?: Readonly<Record<string, string>>;
  /** One or more lines of help for the usage. */
  readonly help: string;
  /** Runs in the lab process; the result goes back to the CLI as JSON. */
  run(lab: LabControl, call: ControlCall): unknown;
  /** The CLI's output for the result; "done" when absent. */
  print?(result: unknown): string;
}

/** The host, checked to have the capability (a control operation or a test acting on it). */
export function hostWith(lab: LabControl, host: string, capability: Capability<any>): string {
  if (!lab.capabilities(host).includes(capability)) throw new Error(`lab host ${host} is a ${lab.state(host).kind}, which has no ${capability.name}`);
  return host;
}
