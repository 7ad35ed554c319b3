/**
 * One lab host while the lab runs: its state, its SSH server for the current boot stage, its power transitions
 * (boot, power off, reset, the end of the initramfs) and its audit log. What the host is made of is its kind's
 * business (hosts/, capabilities/); this only drives the power and the daemons.
 */
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostSimulator } from './core/dispatch.js';
import { simulatorFor } from './core/registry.js';
import type { BaseHostState, CommandResult, LabHostSpec, LabView } from './core/types.js';
import type { Stage } from './protocol.js';
import { ShellSyntaxError, splitWords } from './words.js';
import { startDropbear, startSshd, stopDropbear, stopSshd } from './sshd.js';
import { MembersSshd, servesMembers } from './members-sshd.js';
import type { WithAccounts } from './capabilities/ganeti/accounts.js';

export interface AuditEntry {
  time: string;
  stage: Stage;
  command: string;
  exitCode: number;
}

/** What a host needs of the lab around it. */
export interface LabEnv {
  readonly dir: string;
  readonly socketPath: string;
  /** The relay sshd and dropbear run for every command (lab-user.ts). */
  readonly forcedCommand: string;
  readonly authorizedKeysPath: string;
  stopped(): boolean;
}

export class LabHost {
  readonly kind: HostSimulator;
  readonly state: BaseHostState;
  readonly opensshKeyPath: string;
  readonly dropbearKeyPath: string;
  /** The SSH server answering for the current stage, if any. */
  daemon: { stage: Stage; child: ChildProcess } | null = null;
  /** The members' sshd of a hypervisor with jailed accounts, while its system runs (members-sshd.ts). */
  readonly members: MembersSshd | null;
  readonly audit: AuditEntry[] = [];
  /** Pending power events, each with what to do if a reset or stop cancels it. */
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  /** Serializes power transitions. */
  private transition: Promise<void> = Promise.resolve();

  constructor(private readonly env: LabEnv, readonly spec: LabHostSpec, readonly address: string) {
    this.state = spec.state;
    this.kind = simulatorFor(spec.state);
    this.opensshKeyPath = join(env.dir, 'keys', `${spec.name}_ssh_host_ed25519_key`);
    this.dropbearKeyPath = join(env.dir, 'keys', `${spec.name}_dropbear_ed25519_host_key`);
    this.members = servesMembers(this.kind.capabilities) ? new MembersSshd({ dir: env.dir, host: spec.name, address, hostKeyPath: this.opensshKeyPath }) : null;
  }

  get name(): string {
    return this.spec.name;
  }

  settle(): void {
    this.kind.settle(this.state, Date.now());
  }

  persist(): void {
    writeFileSync(join(this.env.dir, 'state', `${this.name}.json`), `${JSON.stringify(this.state, null, 2)}\n`);
  }

  /** A power event accepted but not done yet (`reboot` or `poweroff` answered), kept beside the state so that a lab
   *  stopped in between does it when it resumes: the host that answered "rebooting" does reboot. */
  private get pendingPowerPath(): string {
    return join(this.env.dir, 'state', `${this.name}.pending-power`);
  }

  private setPendingPower(event: 'reboot' | 'poweroff' | null): void {
    if (event) writeFileSync(this.pendingPowerPath, `${event}\n`);
    else rmSync(this.pendingPowerPath, { force: true });
  }

  /** The audit lines an earlier run of the lab wrote (a resumed lab appends to them). */
  loadAudit(): void {
    const file = join(this.env.dir, 'audit', `${this.name}.jsonl`);
    if (!existsSync(file)) return;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try { this.audit.push(JSON.parse(line) as AuditEntry); } catch { /* a line cut by a crash: the file keeps it */ }
    }
  }

  /** After a command or a change by the lab: the members' sshd follows the host's users, homes and running config. */
  syncMembers(): void {
    this.members?.sync(this.state as WithAccounts);
  }

  isUp(): boolean {
    const child = this.daemon?.child;
    return this.state.power !== 'down' && !!child && child.exitCode === null && child.signalCode === null;
  }

  // ------------------------------------------------------------ commands

  /** One SSH command in `stage`: split, run by the kind, audited. */
  exec(command: string, stage: Stage, stdin: Buffer | undefined, lab: LabView): CommandResult | 'needStdin' {
    const now = Date.now();
    const result = this.run(command, stage, now, stdin, lab);
    if (result === 'needStdin') return result;
    const entry: AuditEntry = { time: new Date(now).toISOString(), stage, command, exitCode: result.exitCode };
    this.audit.push(entry);
    appendFileSync(join(this.env.dir, 'audit', `${this.name}.jsonl`), `${JSON.stringify(entry)}\n`);
    return result;
  }

  private run(command: string, stage: Stage, now: number, stdin: Buffer | undefined, lab: LabView): CommandResult | 'needStdin' {
    if (!command.trim()) return { stdout: Buffer.alloc(0), stderr: 'runbook-lab: interactive shells are not simulated: pass a command\n', exitCode: 1 };
    let argv: string[];
    try {
      argv = splitWords(command);
    } catch (error) {
      if (!(error instanceof ShellSyntaxError)) throw error;
      return { stdout: Buffer.alloc(0), stderr: `${error.message}\n`, exitCode: 2 };
    }
    // The initramfs has nothing time-driven to settle: only the running system does.
    if (stage === 'openssh') this.kind.settle(this.state, now);
    const out = this.kind.exec(this.state, argv, { now, stage, lab, ...(stdin ? { stdin } : {}) });
    return 'needStdin' in out ? 'needStdin' : out;
  }

  /** What a command asked for once its reply is out: go down (and maybe come back), or end the initramfs. */
  after(result: CommandResult): void {
    if (result.after === 'continue-boot') this.continueBoot(result.restOfBootMs ?? 0);
    else if (result.after) this.shutdown(result.after);
  }

  // ------------------------------------------------------------ power

  clearTimers(): void {
    const cancelled = [...this.timers];
    this.timers.clear();
    for (const [timer, onCancel] of cancelled) { clearTimeout(timer); onCancel(); }
  }

  private later(delayMs: number, fn: () => void, onCancel: () => void = () => undefined): void {
    const timer = setTimeout(() => { this.timers.delete(timer); fn(); }, delayMs);
    this.timers.set(timer, onCancel);
  }

  async stopDaemon(): Promise<void> {
    const daemon = this.daemon;
    this.daemon = null;
    await this.members?.stop();
    if (!daemon) return;
    const run = join(this.env.dir, 'run');
    await (daemon.stage === 'dropbear' ? stopDropbear(daemon.child, run, this.name) : stopSshd(daemon.child, run, this.name));
  }

  private async enterStage(stage: Stage): Promise<void> {
    await this.stopDaemon();
    const forceCommand = `${this.env.forcedCommand} ${this.env.socketPath} ${this.name} ${stage}`;
    const common = { dir: this.env.dir, host: this.name, address: this.address, forceCommand };
    const child = stage === 'dropbear'
      ? await startDropbear({ ...common, hostKeyPath: this.dropbearKeyPath })
      : await startSshd({ ...common, hostKeyPath: this.opensshKeyPath, authorizedKeysPath: this.env.authorizedKeysPath });
    this.daemon = { stage, child };
    if (stage === 'openssh') await this.members?.start(this.state as WithAccounts);
    this.state.power = stage;
    this.persist();
  }

  /** Power on: the kind boots (devices enumerated, LUKS mappings gone...) and says where the boot stops. */
  bootNow(): Promise<void> {
    this.transition = this.transition.then(async () => {
      if (this.env.stopped()) return;
      this.setPendingPower(null);
      this.kind.boot(this.state, Date.now());
      await this.enterStage(this.kind.bootStage(this.state));
    });
    return this.transition;
  }

  /**
   * The lab starts again on a state an earlier run left (the machine kept running while the lab was stopped): a host
   * that was up answers again in its stage, without a boot (same boot id, LUKS volumes as they were); one whose
   * initramfs had finished goes on to the system; one that was down stays down, unless a reboot was under way.
   */
  resume(): Promise<void> {
    const pending = existsSync(this.pendingPowerPath) ? readFileSync(this.pendingPowerPath, 'utf8').trim() : '';
    if (pending === 'reboot' || pending === 'poweroff') {
      this.setPendingPower(null);
      return this.goDown().then(() => (pending === 'reboot' && !this.state.neverComesBack ? this.bootAfter(this.state.bootDelayMs) : undefined));
    }
    if (this.state.power === 'down') return Promise.resolve();
    this.transition = this.transition.then(async () => {
      if (this.env.stopped()) return;
      // An unlocked root whose rest of boot was cut short by the stop: the system is up by now.
      const stage = this.state.power === 'dropbear' && this.kind.bootStage(this.state) === 'openssh' ? 'openssh' : this.state.power;
      if (stage !== 'down') await this.enterStage(stage);
    });
    return this.transition;
  }

  private bootAfter(delayMs: number): Promise<void> {
    this.setPendingPower('reboot'); // cleared by the boot itself
    // A reset or stop cancelling the boot settles the promise too: whoever waits looks at the state again.
    return new Promise((resolvePromise, reject) => this.later(delayMs, () => { this.bootNow().then(resolvePromise, reject); }, resolvePromise));
  }

  private async waitUp(): Promise<void> {
    while (!this.env.stopped() && this.state.power === 'down') await new Promise((r) => setTimeout(r, 50));
  }

  /** Power off now: the SSH server and its sessions die, and the kind loses what a machine loses. */
  private goDown(): Promise<void> {
    this.transition = this.transition.then(async () => {
      this.settle();
      this.state.power = 'down';
      this.kind.powerOff(this.state);
      await this.stopDaemon();
      this.persist();
    });
    return this.transition;
  }

  /** `reboot` or `poweroff` ran: the reply goes out first, then the host goes down (and maybe comes back). */
  private shutdown(then: 'reboot' | 'poweroff'): void {
    this.setPendingPower(then);
    this.later(200, () => {
      void this.goDown().then(() => {
        if (then === 'poweroff' || this.state.neverComesBack) this.setPendingPower(null);
        if (then === 'reboot' && !this.env.stopped() && !this.state.neverComesBack) return this.bootAfter(this.state.bootDelayMs);
        return undefined;
      }).catch(() => undefined);
    });
  }

  /** The initramfs is done (the root is unlocked): it ends, dropbear with it, and the system boots on to OpenSSH. */
  private continueBoot(restOfBootMs: number): void {
    this.later(200, () => {
      this.transition = this.transition.then(() => this.stopDaemon());
      this.later(restOfBootMs, () => {
        this.transition = this.transition.then(async () => {
          if (!this.env.stopped() && this.state.power === 'dropbear') await this.enterStage('openssh');
        }).catch(() => undefined);
      });
    });
  }

  /** The power button: a host that is off boots; resolves once it answers SSH (dropbear first for a LUKS root). */
  async powerOn(): Promise<void> {
    await this.transition;
    if (this.state.power !== 'down') return;
    if (this.timers.size) return this.waitUp(); // already booting
    await this.bootAfter(this.state.bootDelayMs);
  }

  /** Hard reset: down at once, whatever it was doing, and boots again unless it never comes back. */
  async powerCycle(): Promise<void> {
    this.clearTimers();
    await this.goDown();
    if (this.env.stopped() || this.state.neverComesBack) return;
    await this.bootAfter(this.state.bootDelayMs);
  }
}
