/**
 * The lab: simulated hosts behind real OpenSSH servers on 127.0.<subnet>.<10+i>:22.
 *
 * State and simulators live in this process. Each sshd runs dist/lab/forced-command.js for every
 * command, which relays it over the unix socket dir/lab.sock; the lab answers, audits and persists.
 */
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { parseInventory, type Inventory } from '../common/inventory.js';
import { simulatorFor } from './hosts/index.js';
import type { BaseHostState, CommandResult, LabView } from './hosts/types.js';
import { failDisk, swapDisk, xenDom0Preset, type XenDom0Options, type XenDom0State } from './hosts/xen-dom0.js';
import { readLines, send, type ClientMessage, type ControlReply, type ControlRequest, type ExecRequest, type Stage } from './protocol.js';
import { splitWords, ShellSyntaxError } from './words.js';
import { dropbearKey, ensureForcedCommand, ensureUser, killSshdSync, killStale, LAB_USER, opensshKey, startSshd, stopSshd } from './sshd.js';

export interface LabHostSpec {
  name: string;
  kind: 'xen-dom0';
  state: XenDom0State;
  location?: string;
}

export interface AuditEntry {
  time: string;
  stage: Stage;
  command: string;
  exitCode: number;
}

export interface LabOptions {
  dir: string;
  subnet: number;
  hosts: LabHostSpec[];
}

export const presets = {
  /** A Xen dom0, two 8 TB SATA disks in slots 0 and 1, GPT + md0 (20 GiB) + md1 (rest), both RAID1. */
  xenDom0Raid1(name: string, opts: XenDom0Options = {}): LabHostSpec {
    return { name, kind: 'xen-dom0', state: xenDom0Preset(name, opts), location: 'lab: simulated dom0, disks in slots 0 and 1' };
  },
};

interface HostRuntime {
  spec: LabHostSpec;
  state: XenDom0State;
  address: string;
  hostKeyPath: string;
  sshd: ChildProcess | null;
  timers: Set<NodeJS.Timeout>;
  audit: AuditEntry[];
  /** Serializes power transitions. */
  transition: Promise<void>;
}

export class Lab {
  readonly inventoryPath: string;
  readonly inventory: Inventory;
  readonly dir: string;
  readonly socketPath: string;
  private readonly hosts = new Map<string, HostRuntime>();
  private server: Server | null = null;
  private forceCommandScript = '';
  private authorizedKeysPath = '';
  private stopped = false;
  private readonly onExit = () => { for (const h of this.hosts.values()) if (h.sshd) killSshdSync(h.sshd); };

  private constructor(dir: string, inventory: Inventory) {
    this.dir = dir;
    this.inventory = inventory;
    this.inventoryPath = join(dir, 'inventory.json');
    this.socketPath = join(dir, 'lab.sock');
  }

  static async start(opts: LabOptions): Promise<Lab> {
    if (!Number.isInteger(opts.subnet) || opts.subnet < 0 || opts.subnet > 255) throw new Error('subnet must be 0..255');
    if (opts.hosts.length > 240) throw new Error('too many hosts');
    const dir = resolve(opts.dir);
    for (const sub of ['', 'keys', 'audit', 'state', 'run', 'sshd']) mkdirSync(join(dir, sub), { recursive: true });
    // The forced command runs as the lab user: it must reach dir/lab.sock.
    chmodSync(dir, 0o755);
    const addresses = opts.hosts.map((_, i) => `127.0.${opts.subnet}.${10 + i}`);
    killStale(join(dir, 'run'), addresses);
    ensureUser();
    const forcedCommand = ensureForcedCommand();

    const clientKey = join(dir, 'keys', 'client_ed25519');
    const clientPub = opensshKey(clientKey, 'runbook-lab-client');
    const authorizedKeysPath = join(dir, 'keys', 'authorized_keys');
    writeFileSync(authorizedKeysPath, `${clientPub}\n`, { mode: 0o644 });
    chmodSync(authorizedKeysPath, 0o644);
    chmodSync(join(dir, 'keys'), 0o755);

    const runtimes: HostRuntime[] = [];
    const inventoryHosts = opts.hosts.map((spec, i) => {
      const hostKeyPath = join(dir, 'keys', `${spec.name}_ssh_host_ed25519_key`);
      const openssh = opensshKey(hostKeyPath, `root@${spec.name}`);
      const dropbear = dropbearKey(join(dir, 'keys', `${spec.name}_dropbear_ed25519_host_key`));
      runtimes.push({ spec, state: spec.state, address: addresses[i]!, hostKeyPath, sshd: null, timers: new Set(), audit: [], transition: Promise.resolve() });
      return {
        name: spec.name, address: addresses[i]!, port: 22, user: LAB_USER, kind: spec.kind,
        hostKeys: { openssh, dropbear },
        ...(spec.location ? { location: spec.location } : {}),
      };
    });
    const inventory = parseInventory({ simulated: true, ssh: { privateKeyPath: clientKey }, hosts: inventoryHosts, clusters: [] }, 'lab inventory');
    writeFileSync(join(dir, 'inventory.json'), `${JSON.stringify(inventory, null, 2)}\n`);

    const lab = new Lab(dir, inventory);
    lab.forceCommandScript = forcedCommand;
    lab.authorizedKeysPath = authorizedKeysPath;
    for (const rt of runtimes) {
      lab.hosts.set(rt.spec.name, rt);
      rmSync(join(dir, 'audit', `${rt.spec.name}.jsonl`), { force: true });
    }
    process.on('exit', lab.onExit);
    try {
      await lab.listen();
      await Promise.all(runtimes.map((rt) => lab.bootNow(rt)));
    } catch (error) {
      await lab.stop();
      throw error;
    }
    return lab;
  }

  // ------------------------------------------------------------ public API

  address(host: string): string {
    return this.host(host).address;
  }

  audit(host: string): AuditEntry[] {
    return [...this.host(host).audit];
  }

  state(host: string): XenDom0State {
    const rt = this.host(host);
    simulatorFor(rt.state).settle(rt.state, Date.now());
    return rt.state;
  }

  swapDisk(host: string, slot: number, opts: { sizeBytes?: number; serial?: string } = {}): void {
    const rt = this.host(host);
    this.settle(rt);
    swapDisk(rt.state, slot, Date.now(), opts);
    this.persist(rt);
  }

  failDisk(host: string, slot: number): void {
    const rt = this.host(host);
    this.settle(rt);
    failDisk(rt.state, slot, Date.now());
    this.persist(rt);
  }

  setRenameOnNextBoot(host: string, rename: boolean): void {
    const rt = this.host(host);
    rt.state.renameOnNextBoot = rename;
    this.persist(rt);
  }

  /** Press the power button of a host that is off. Resolves once it answers SSH. */
  async powerOn(host: string): Promise<void> {
    const rt = this.host(host);
    await rt.transition;
    if (rt.state.power !== 'down') return;
    if ([...rt.timers].length) return this.waitUp(rt); // already booting
    await this.bootAfter(rt, rt.state.bootDelayMs);
  }

  isUp(host: string): boolean {
    const rt = this.host(host);
    return rt.state.power !== 'down' && rt.sshd !== null && rt.sshd.exitCode === null && rt.sshd.signalCode === null;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    process.off('exit', this.onExit);
    for (const rt of this.hosts.values()) {
      for (const t of rt.timers) clearTimeout(t);
      rt.timers.clear();
      if (rt.sshd) await stopSshd(rt.sshd, join(this.dir, 'run'), rt.spec.name);
      rt.sshd = null;
    }
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    rmSync(this.socketPath, { force: true });
  }

  // ------------------------------------------------------------ power

  private host(name: string): HostRuntime {
    const rt = this.hosts.get(name);
    if (!rt) throw new Error(`unknown lab host ${name}`);
    return rt;
  }

  private settle(rt: HostRuntime): void {
    simulatorFor(rt.state).settle(rt.state, Date.now());
  }

  private persist(rt: HostRuntime): void {
    writeFileSync(join(this.dir, 'state', `${rt.spec.name}.json`), `${JSON.stringify(rt.state, null, 2)}\n`);
  }

  /** The boot stages a host goes through, in order. Later: 'dropbear' first for hosts with LUKS. */
  private bootStages(_rt: HostRuntime): Stage[] {
    return ['openssh'];
  }

  private async enterStage(rt: HostRuntime, stage: Stage): Promise<void> {
    if (stage === 'dropbear') throw new Error('the dropbear (initramfs) stage is not simulated yet');
    rt.sshd = await startSshd({
      dir: this.dir,
      host: rt.spec.name,
      address: rt.address,
      hostKeyPath: rt.hostKeyPath,
      authorizedKeysPath: this.authorizedKeysPath,
      forceCommand: `${process.execPath} ${this.forceCommandScript} ${this.socketPath} ${rt.spec.name} ${stage}`,
    });
    rt.state.power = stage;
    this.persist(rt);
  }

  private bootNow(rt: HostRuntime): Promise<void> {
    rt.transition = rt.transition.then(async () => {
      if (this.stopped) return;
      simulatorFor(rt.state).boot(rt.state, Date.now());
      for (const stage of this.bootStages(rt)) await this.enterStage(rt, stage);
    });
    return rt.transition;
  }

  private bootAfter(rt: HostRuntime, delayMs: number): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        rt.timers.delete(timer);
        this.bootNow(rt).then(resolvePromise, reject);
      }, delayMs);
      rt.timers.add(timer);
    });
  }

  private async waitUp(rt: HostRuntime): Promise<void> {
    while (!this.stopped && rt.state.power === 'down') await new Promise((r) => setTimeout(r, 50));
  }

  private shutdown(rt: HostRuntime, then: 'reboot' | 'poweroff'): void {
    const timer = setTimeout(() => {
      rt.timers.delete(timer);
      rt.transition = rt.transition.then(async () => {
        this.settle(rt);
        rt.state.power = 'down';
        for (const disk of rt.state.disks) disk.kname = null;
        if (rt.sshd) await stopSshd(rt.sshd, join(this.dir, 'run'), rt.spec.name);
        rt.sshd = null;
        this.persist(rt);
      });
      if (then === 'reboot') void rt.transition.then(() => this.stopped ? undefined : this.bootAfter(rt, rt.state.bootDelayMs)).catch(() => undefined);
    }, 200);
    rt.timers.add(timer);
  }

  // ------------------------------------------------------------ socket

  private listen(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    this.server = createServer((socket) => this.accept(socket));
    return new Promise((resolvePromise, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.socketPath, () => {
        chmodSync(this.socketPath, 0o666);
        resolvePromise();
      });
    });
  }

  private accept(socket: Socket): void {
    let pending: ExecRequest | null = null;
    socket.on('error', () => socket.destroy());
    try {
      readLines(socket, (raw) => {
        const message = raw as ClientMessage;
        try {
          this.handle(socket, message, pending, (p) => { pending = p; });
        } catch (error) {
          send(socket, { stdout: '', stderr: `runbook-lab: simulator error: ${(error as Error).message}\n`, exitCode: 255 });
        }
      });
    } catch {
      socket.destroy();
    }
  }

  private handle(socket: Socket, message: ClientMessage, pending: ExecRequest | null, setPending: (p: ExecRequest) => void): void {
        if (message.type === 'exec') {
          const reply = this.exec(message, undefined);
          if (reply === 'needStdin') { setPending(message); send(socket, { needStdin: true }); } else send(socket, reply);
        } else if (message.type === 'stdin' && pending) {
          const reply = this.exec(pending, Buffer.from(message.data, 'base64'));
          send(socket, reply === 'needStdin' ? { stdout: '', stderr: 'runbook-lab: stdin loop\n', exitCode: 255 } : reply);
        } else if (message.type === 'control') {
          this.control(message).then((r) => send(socket, r), (e: Error) => send(socket, { ok: false, error: e.message } satisfies ControlReply));
        }
  }

  private exec(request: ExecRequest, stdin: Buffer | undefined): 'needStdin' | { stdout: string; stderr: string; exitCode: number } {
    const rt = this.hosts.get(request.host);
    if (!rt) return { stdout: '', stderr: `runbook-lab: unknown host ${request.host}\n`, exitCode: 255 };
    const command = request.command ?? '';
    const now = Date.now();
    const result = this.run(rt, command, request.stage, now, stdin);
    if (result === 'needStdin') return result;
    const entry: AuditEntry = { time: new Date(now).toISOString(), stage: request.stage, command, exitCode: result.exitCode };
    rt.audit.push(entry);
    appendFileSync(join(this.dir, 'audit', `${rt.spec.name}.jsonl`), `${JSON.stringify(entry)}\n`);
    this.persist(rt);
    if (result.after) this.shutdown(rt, result.after);
    return { stdout: result.stdout.toString('base64'), stderr: result.stderr, exitCode: result.exitCode };
  }

  private run(rt: HostRuntime, command: string, stage: Stage, now: number, stdin: Buffer | undefined): CommandResult | 'needStdin' {
    if (!command.trim()) return { stdout: Buffer.alloc(0), stderr: 'runbook-lab: interactive shells are not simulated: pass a command\n', exitCode: 1 };
    let argv: string[];
    try {
      argv = splitWords(command);
    } catch (error) {
      if (!(error instanceof ShellSyntaxError)) throw error;
      return { stdout: Buffer.alloc(0), stderr: `${error.message}\n`, exitCode: 2 };
    }
    const sim = simulatorFor(rt.state);
    sim.settle(rt.state, now);
    const lab = this.view();
    const out = sim.exec(rt.state, argv, stdin ? { now, stage, stdin, lab } : { now, stage, lab });
    return 'needStdin' in out ? 'needStdin' : out;
  }

  /** The lab as simulators see it: other hosts' states, settled to now. */
  private view(): LabView {
    return {
      host: (name) => { const rt = this.hosts.get(name); if (rt) this.settle(rt); return rt?.state; },
      hosts: () => [...this.hosts.values()].map((rt) => { this.settle(rt); return rt.state; }),
    };
  }

  private async control(request: ControlRequest): Promise<ControlReply> {
    const need = () => { if (!request.host) throw new Error('a host name is required'); return request.host; };
    const slot = () => { if (request.slot === undefined || !Number.isInteger(request.slot)) throw new Error('a slot number is required'); return request.slot; };
    switch (request.op) {
      case 'status':
        return {
          ok: true,
          result: {
            dir: this.dir,
            inventory: this.inventoryPath,
            hosts: [...this.hosts.values()].map((rt) => {
              this.settle(rt);
              return {
                name: rt.spec.name, kind: rt.spec.kind, address: rt.address, up: this.isUp(rt.spec.name), power: rt.state.power,
                disks: rt.state.disks.map((d) => ({ slot: d.slot, kname: d.kname, serial: d.serial, sizeBytes: d.sizeBytes })),
                arrays: rt.state.arrays.map((a) => ({ name: a.name, members: a.members.map((m) => ({ serial: m.serial, partition: m.partition, state: m.state, raidDevice: m.raidDevice })) })),
              };
            }),
          },
        };
      case 'swap-disk': {
        const host = need();
        const s = slot();
        if (request.renameOnBoot) this.setRenameOnNextBoot(host, true);
        this.swapDisk(host, s);
        return { ok: true, result: this.state(host).disks.find((d) => d.slot === s) };
      }
      case 'fail-disk':
        this.failDisk(need(), slot());
        return { ok: true, result: null };
      case 'power-on':
        await this.powerOn(need());
        return { ok: true, result: null };
      case 'audit':
        return { ok: true, result: this.audit(need()) };
      default:
        throw new Error(`unknown control operation ${String((request as { op: unknown }).op)}`);
    }
  }
}

export type { XenDom0State, XenDom0Options, BaseHostState };
