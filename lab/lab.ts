/**
 * The lab: simulated hosts behind real OpenSSH servers on 127.0.<subnet>.<10+i>:22.
 *
 * State and simulators live in this process. Each sshd runs the forced command (installed under /run/runbook-lab)
 * for every command, which relays it over the lab's unix socket (/run/runbook-lab/labs/<id>/lab.sock, linked from
 * dir/lab.sock); the lab answers, audits and persists.
 * What a host is made of is its kind's business (hosts/, one module per kind, built from capabilities/);
 * this file knows no kind.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { parseInventory, type Inventory } from '../common/inventory.js';
import { failDiskOf, setRenameOnNextBoot, swapDiskOf } from './capabilities/disks/index.js';
import { matchingSlot, type WithLuks } from './capabilities/luks/index.js';
import type { Capability, LabControl } from './core/capability.js';
import type { BaseHostState, LabClusterSpec, LabHostSpec, LabView } from './core/types.js';
import { runControl } from './control.js';
import { CommandFaults } from './faults.js';
import './hosts/index.js';
import { LabHost, type AuditEntry } from './lab-host.js';
import { VncDisplays } from './vnc.js';
import { readLines, send, type ClientMessage, type ControlReply, type ControlRequest, type ExecRequest, type Stage } from './protocol.js';
import {
  addDropbearKey, dropbearKey, ensureForcedCommand, ensureUser, killSshdSync, killStale, LAB_USER, labRuntimeDir, opensshKey, removeDropbearKey,
} from './sshd.js';

export type { AuditEntry, BaseHostState, LabClusterSpec, LabHostSpec };
export { presets } from './core/registry.js';
export { demoLab } from './demo.js';

export interface LabOptions {
  dir: string;
  subnet: number;
  hosts: LabHostSpec[];
  clusters?: LabClusterSpec[];
  /**
   * Take up the hosts' state and audit an earlier lab left in `dir` (state/*.json, audit/*.jsonl) when they are for
   * the same hosts (names and kinds), instead of the specs' states: what `npm start` does so that a stack restart
   * does not reset the hosts under a run. Otherwise (the default) the lab starts fresh: specs' states, empty audits.
   */
  resume?: boolean;
}

/**
 * The states an earlier lab left in dir/state for exactly these hosts, or why they cannot be taken up.
 * Same names and kinds only: a lab whose host set changed starts fresh rather than half from files.
 */
function savedStates(dir: string, specs: LabHostSpec[]): { states: BaseHostState[] } | { reason: string } {
  const stateDir = join(dir, 'state');
  const files = existsSync(stateDir) ? readdirSync(stateDir).filter((f) => f.endsWith('.json')).sort() : [];
  if (!files.length) return { reason: 'no saved state' };
  const names = specs.map((s) => `${s.name}.json`).sort();
  if (files.join() !== names.join()) return { reason: `the saved states are for other hosts (${files.map((f) => f.slice(0, -5)).join(', ')})` };
  const states: BaseHostState[] = [];
  for (const spec of specs) {
    let state: BaseHostState;
    try {
      state = JSON.parse(readFileSync(join(stateDir, `${spec.name}.json`), 'utf8')) as BaseHostState;
    } catch (error) {
      return { reason: `state/${spec.name}.json is unreadable (${(error as Error).message})` };
    }
    if (state?.name !== spec.name || state.kind !== spec.kind) return { reason: `state/${spec.name}.json is not a ${spec.kind} named ${spec.name}` };
    states.push(state);
  }
  return { states };
}

/** A command waiting for its standard input, and its token among the commands under way. */
type Pending = ExecRequest & { token: number };

function simulatorError(socket: Socket, error: unknown): void {
  send(socket, { stdout: '', stderr: `runbook-lab: simulator error: ${(error as Error).message}\n`, exitCode: 255 });
}

export class Lab implements LabControl {
  readonly inventoryPath: string;
  readonly inventory: Inventory;
  readonly dir: string;
  /** The control socket, in the lab's runtime folder (see labRuntimeDir). */
  readonly socketPath: string;
  /** dir/lab.sock, a link to it for the lab CLI. */
  private get controlLink(): string {
    return join(this.dir, 'lab.sock');
  }
  private readonly hosts = new Map<string, LabHost>();
  /** Tests' fault injection: slowed commands, commands under way and their SSH sessions. */
  readonly faults = new CommandFaults();
  /** Whether this lab took up the hosts' state and audit an earlier one left, and if not, why. */
  resumed: { yes: true } | { yes: false; reason: string } = { yes: false, reason: 'fresh lab asked' };
  private server: Server | null = null;
  /** The running instances' VNC consoles, what a member's tunnel reaches (vnc.ts). */
  private readonly vnc = new VncDisplays();
  private stopped = false;
  private readonly onExit = () => {
    for (const h of this.hosts.values()) {
      if (h.daemon) killSshdSync(h.daemon.child);
      h.members?.killSync();
    }
  };

  private constructor(dir: string, inventory: Inventory, socketPath: string) {
    this.dir = dir;
    this.inventory = inventory;
    this.inventoryPath = join(dir, 'inventory.json');
    this.socketPath = socketPath;
  }

  static async start(opts: LabOptions): Promise<Lab> {
    if (!Number.isInteger(opts.subnet) || opts.subnet < 0 || opts.subnet > 255) throw new Error('subnet must be 0..255');
    if (opts.hosts.length > 240) throw new Error('too many hosts');
    const dir = resolve(opts.dir);
    for (const sub of ['', 'keys', 'audit', 'state', 'run', 'sshd']) mkdirSync(join(dir, sub), { recursive: true });
    const addresses = opts.hosts.map((_, i) => `127.0.${opts.subnet}.${10 + i}`);
    killStale(join(dir, 'run'), addresses);
    ensureUser();
    // What the lab user reaches (socket, authorized_keys) is outside the lab folder, which may be private.
    const runtime = labRuntimeDir(dir);
    const env = {
      dir, socketPath: join(runtime, 'lab.sock'), forcedCommand: ensureForcedCommand(), authorizedKeysPath: join(runtime, 'authorized_keys'),
      stopped: () => lab.stopped,
    };

    const clientKey = join(dir, 'keys', 'client_ed25519');
    const clientPub = opensshKey(clientKey, 'runbook-lab-client');
    writeFileSync(env.authorizedKeysPath, `${clientPub}\n`, { mode: 0o644 });
    chmodSync(env.authorizedKeysPath, 0o644);

    const saved = opts.resume ? savedStates(dir, opts.hosts) : { reason: 'fresh lab asked' };
    if (!('states' in saved)) {
      // A fresh lab: no line of an earlier one may pass for this one's (pending power events neither).
      for (const sub of ['audit', 'state']) for (const f of readdirSync(join(dir, sub))) rmSync(join(dir, sub, f), { force: true });
    }
    const hosts = opts.hosts.map((given, i) => {
      const spec = 'states' in saved ? { ...given, state: saved.states[i]! } : given;
      if (spec.state.name !== spec.name || spec.state.kind !== spec.kind) throw new Error(`lab host ${spec.name}: its state names ${spec.state.name} (${spec.state.kind})`);
      return new LabHost(env, spec, addresses[i]!);
    });
    if (hosts.some((h) => h.kind.usesDropbear(h.state))) addDropbearKey(clientPub, dir);
    const inventoryHosts = hosts.map((h) => ({
      name: h.name, address: h.address, port: 22, user: LAB_USER, kind: h.spec.kind,
      hostKeys: { openssh: opensshKey(h.opensshKeyPath, `root@${h.name}`), dropbear: dropbearKey(h.dropbearKeyPath) },
      ...(h.spec.location ? { location: h.spec.location } : {}),
      ...(h.spec.guests ? { guests: h.spec.guests } : {}),
    }));
    const inventory = parseInventory({ simulated: true, ssh: { privateKeyPath: clientKey }, hosts: inventoryHosts, clusters: opts.clusters ?? [] }, 'lab inventory');
    writeFileSync(join(dir, 'inventory.json'), `${JSON.stringify(inventory, null, 2)}\n`);

    const lab = new Lab(dir, inventory, env.socketPath);
    lab.resumed = 'states' in saved ? { yes: true } : { yes: false, reason: saved.reason };
    for (const h of hosts) {
      lab.hosts.set(h.name, h);
      if ('states' in saved) h.loadAudit();
    }
    process.on('exit', lab.onExit);
    try {
      await lab.listen();
      await Promise.all(hosts.map((h) => ('states' in saved ? h.resume() : h.bootNow())));
      lab.syncMembers();
    } catch (error) {
      await lab.stop();
      throw error;
    }
    return lab;
  }

  // ------------------------------------------------------------ public API

  hostNames(): string[] {
    return [...this.hosts.keys()];
  }

  address(host: string): string {
    return this.host(host).address;
  }

  audit(host: string): AuditEntry[] {
    return [...this.host(host).audit];
  }

  /** The host's live state, settled to now. S is the caller's claim about its kind (XenDom0State, ...). */
  state<S extends BaseHostState = BaseHostState>(host: string): S {
    const h = this.host(host);
    h.settle();
    return h.state as S;
  }

  update<S extends BaseHostState, T>(host: string, change: (state: S, now: number) => T): T {
    const h = this.host(host);
    h.settle();
    const result = change(h.state as S, Date.now());
    h.persist();
    this.syncMembers();
    return result;
  }

  capabilities(host: string): readonly Capability<any>[] {
    return this.host(host).kind.capabilities;
  }

  /** Where the host is: 'down', or the stage whose SSH server is (or is about to be) answering. */
  stage(host: string): 'down' | Stage {
    return this.host(host).state.power;
  }

  /** The host will not come back by itself after its next reboot or poweroff (or power cycle). */
  setNeverComesBack(host: string, never: boolean): void {
    const h = this.host(host);
    if (never) h.state.neverComesBack = true;
    else delete h.state.neverComesBack;
    h.persist();
  }

  /**
   * Press the power button (a person repaired the host if it was never coming back): clears neverComesBack;
   * a host that is off boots. Resolves once it answers SSH (dropbear first for a LUKS root).
   */
  async powerOn(host: string): Promise<void> {
    this.setNeverComesBack(host, false);
    await this.host(host).powerOn();
  }

  /**
   * Hard reset (also what unsticks an initramfs that gave up): the host goes down at once, whatever it was
   * doing, and boots again unless it never comes back. Resolves once it answers SSH again (or is down for good).
   */
  powerCycle(host: string): Promise<void> {
    return this.host(host).powerCycle();
  }

  /** The host answers SSH (in whichever stage). */
  isUp(host: string): boolean {
    return this.host(host).isUp();
  }

  // Shortcuts the suites call on the lab: each is its capability's own operation (capabilities/).

  swapDisk(host: string, slot: number, opts: { sizeBytes?: number; serial?: string } = {}): void {
    swapDiskOf(this, host, slot, opts);
  }

  failDisk(host: string, slot: number): void {
    failDiskOf(this, host, slot);
  }

  setRenameOnNextBoot(host: string, rename: boolean): void {
    setRenameOnNextBoot(this, host, rename);
  }

  /** Would cryptroot-unlock / luksOpen accept this passphrase for the volume (by dm name)? No state change. */
  luksAccepts(host: string, volumeName: string, passphrase: string | Buffer): boolean {
    const volume = (this.host(host).state as WithLuks).luks?.volumes.find((v) => v.name === volumeName);
    if (!volume) throw new Error(`lab host ${host} has no LUKS volume ${volumeName}`);
    return matchingSlot(volume, passphrase) >= 0;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    process.off('exit', this.onExit);
    for (const h of this.hosts.values()) {
      h.clearTimers();
      await h.stopDaemon();
    }
    await this.vnc.close();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    rmSync(this.socketPath, { force: true });
    rmSync(this.controlLink, { force: true });
    if ([...this.hosts.values()].some((h) => h.kind.usesDropbear(h.state))) {
      try { removeDropbearKey(this.dir); } catch { /* another lab holds the lock: our line goes when our dir does */ }
    }
  }

  /**
   * What members reach follows the simulated hosts: each members' sshd its host's files and running config, the VNC
   * consoles the running instances. Called after every command and every change by the lab.
   */
  private syncMembers(): void {
    if (this.stopped) return;
    for (const h of this.hosts.values()) {
      try { h.syncMembers(); } catch (error) { process.stderr.write(`runbook-lab: ${h.name}: members' sshd: ${(error as Error).message}\n`); }
    }
    this.vnc.sync(this.view().hosts());
  }

  private host(name: string): LabHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`unknown lab host ${name}`);
    return h;
  }

  // ------------------------------------------------------------ socket

  private listen(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    this.server = createServer((socket) => this.accept(socket));
    return new Promise((resolvePromise, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.socketPath, () => {
        chmodSync(this.socketPath, 0o666);
        // `npx runbook-lab` finds the lab by its folder: RUNBOOK_LAB_DIR/lab.sock.
        rmSync(this.controlLink, { force: true });
        symlinkSync(this.socketPath, this.controlLink);
        resolvePromise();
      });
    });
  }

  private accept(socket: Socket): void {
    let pending: Pending | null = null;
    socket.on('error', () => socket.destroy());
    // A client gone while its command waited for stdin: that command is no longer under way.
    socket.on('close', () => { if (pending) this.faults.answered(pending.token); });
    try {
      readLines(socket, (raw) => {
        const message = raw as ClientMessage;
        try {
          this.handle(socket, message, pending, (p) => { pending = p; });
        } catch (error) {
          simulatorError(socket, error);
        }
      });
    } catch {
      socket.destroy();
    }
  }

  private handle(socket: Socket, message: ClientMessage, pending: Pending | null, setPending: (p: Pending) => void): void {
    if (message.type === 'exec') {
      const token = this.faults.received({ host: message.host, command: message.command ?? '', ...(message.pid ? { pid: message.pid } : {}) });
      const run = (): void => {
        if (this.stopped) return;
        try {
          const reply = this.exec(message, undefined);
          if (reply === 'needStdin') { setPending({ ...message, token }); send(socket, { needStdin: true }); return; }
          if (reply.replyAfterMs) {
            // Applied now, answered later (a slow remount): a kill lands between the change and its answer.
            const { replyAfterMs, ...rest } = reply;
            setTimeout(() => { if (!socket.destroyed) send(socket, rest); this.faults.answered(token); }, replyAfterMs);
            return;
          }
          send(socket, reply);
        } catch (error) {
          simulatorError(socket, error);
        }
        this.faults.answered(token);
      };
      // A slowed command is held here, received but not applied: the host applies it after, whoever still listens.
      const delay = this.faults.delayFor(message.host, message.command ?? '');
      if (delay > 0) {
        const timer = setTimeout(run, delay);
        this.faults.held(token, () => { clearTimeout(timer); run(); });
      } else run();
    } else if (message.type === 'stdin' && pending) {
      this.faults.answered(pending.token);
      const reply = this.exec(pending, Buffer.from(message.data, 'base64'));
      send(socket, reply === 'needStdin' ? { stdout: '', stderr: 'runbook-lab: stdin loop\n', exitCode: 255 } : reply);
    } else if (message.type === 'control') {
      this.control(message).then((r) => send(socket, r), (e: Error) => send(socket, { ok: false, error: e.message } satisfies ControlReply));
    }
  }

  private exec(request: ExecRequest, stdin: Buffer | undefined): 'needStdin' | { stdout: string; stderr: string; exitCode: number; replyAfterMs?: number } {
    const h = this.hosts.get(request.host);
    if (!h) return { stdout: '', stderr: `runbook-lab: unknown host ${request.host}\n`, exitCode: 255 };
    const result = h.exec(request.command ?? '', request.stage, stdin, this.view());
    if (result === 'needStdin') return result;
    // A command may change other hosts too (a Proxmox migration moves a guest between two nodes).
    for (const other of this.hosts.values()) other.persist();
    this.syncMembers();
    h.after(result);
    return { stdout: result.stdout.toString('base64'), stderr: result.stderr, exitCode: result.exitCode, ...(result.replyAfterMs ? { replyAfterMs: result.replyAfterMs } : {}) };
  }

  /** The lab as simulators see it: other hosts' states, settled to now. */
  private view(): LabView {
    return {
      host: (name) => { const h = this.hosts.get(name); h?.settle(); return h?.state; },
      hosts: () => [...this.hosts.values()].map((h) => { h.settle(); return h.state; }),
    };
  }

  private async control(request: ControlRequest): Promise<ControlReply> {
    return { ok: true, result: await runControl(this, request) };
  }
}
