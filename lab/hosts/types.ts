/**
 * What every simulated host kind provides. One module per kind (xen-dom0 now; proxmox, ganeti later):
 * its state type, a preset to build it, and a command interpreter over that state.
 */
import type { BootStage } from '../../common/inventory.js';

export type HostKind = 'xen-dom0' | 'proxmox-node' | 'ganeti-master' | 'ganeti-node' | 'dns' | 'other';

/** What a command produced. stdout is bytes (dd prints binary), stderr is text. */
export interface CommandResult {
  stdout: Buffer;
  stderr: string;
  exitCode: number;
  /** Side effect after the reply has been sent: the lab takes the host down. */
  after?: 'reboot' | 'poweroff';
}

/** The command reads its standard input: the lab must ask the client for it, then call again. */
export interface NeedStdin {
  needStdin: true;
}

export interface ExecContext {
  now: number;
  stage: BootStage;
  /** Present on the second call of a command that asked for it. */
  stdin?: Buffer;
  /** The rest of the lab: a Proxmox cluster shares its guests and its quorum between nodes. */
  lab: LabView;
}

/** What a simulator may see and change of the other hosts. A node is up when its power is 'openssh'. */
export interface LabView {
  host(name: string): BaseHostState | undefined;
  hosts(): BaseHostState[];
}

/** The part of the state every kind has. */
export interface BaseHostState {
  name: string;
  kind: HostKind;
  /** Where the host is in its boot: `down` (powered off or rebooting), or the stage answering SSH. */
  power: 'down' | BootStage;
  bootCount: number;
  bootDelayMs: number;
  /** After a reboot or poweroff the host stays down until the lab's power-on (which clears this). */
  neverComesBack?: boolean;
}

export interface HostSimulator<S extends BaseHostState = BaseHostState> {
  readonly kind: HostKind;
  /** Run one already tokenized command against the state (mutating it). */
  exec(state: S, argv: string[], ctx: ExecContext): CommandResult | NeedStdin;
  /** Bring lazy, time-driven state (e.g. RAID recovery) up to `now`. */
  settle(state: S, now: number): void;
  /** The machine (re)boots: devices are enumerated again. */
  boot(state: S, now: number): void;
}

export function ok(stdout = '', stderr = ''): CommandResult {
  return { stdout: Buffer.from(stdout), stderr, exitCode: 0 };
}

export function fail(exitCode: number, stderr: string, stdout = ''): CommandResult {
  return { stdout: Buffer.from(stdout), stderr, exitCode };
}

/** One simulated host, as a preset builds it and Lab.start takes it. */
export interface LabHostSpec<S extends BaseHostState = BaseHostState> {
  name: string;
  kind: HostKind;
  state: S;
  /** Free text for people, copied to the inventory. */
  location?: string;
  /** Xen dom0 only: its guests and their dependencies, copied to the inventory. */
  guests?: { name: string; config?: string; dependsOn: string[] }[];
}

/** A cluster of lab hosts, copied to the inventory's clusters. */
export interface LabClusterSpec {
  name: string;
  kind: 'proxmox' | 'ganeti' | 'xen';
  hosts: string[];
}
