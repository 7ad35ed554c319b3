/**
 * What the lab's hosts are made of: the state every kind has, the result of a command, and what a command sees of
 * the rest of the lab. Host kinds are composed from capabilities (capability.ts) by the base dispatcher (dispatch.ts).
 */
import type { z } from 'zod';
import type { BootStage, HostKind as HostKindSchema } from '../../common/inventory.js';

/** A kind of host, as the inventory names it. */
export type HostKind = z.infer<typeof HostKindSchema>;

/** What a command produced. stdout is bytes (dd prints binary), stderr is text. */
export interface CommandResult {
  stdout: Buffer;
  stderr: string;
  exitCode: number;
  /**
   * Side effect after the reply has been sent: the lab takes the host down (reboot, poweroff), or the initramfs is
   * done (its root is unlocked) and the boot goes on to the system.
   */
  after?: 'reboot' | 'poweroff' | 'continue-boot';
  /** For continue-boot: how long the rest of the boot takes, from the end of the initramfs to OpenSSH. */
  restOfBootMs?: number;
  /** The command takes this long: its effect is made at once, its reply goes out after (a client gone meanwhile gets none). */
  replyAfterMs?: number;
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
