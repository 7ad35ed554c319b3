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
import { initramfsExec, luksBoot, luksExec, luksPowerOff, matchingSlot, rootVolume, type WithLuks } from './hosts/luks.js';
import type { BaseHostState, CommandResult, LabClusterSpec, LabHostSpec, LabView, NeedStdin } from './hosts/types.js';
import { proxmoxCluster } from './hosts/proxmox-node.js';
import { failDisk, swapDisk, xenDom0Preset, xenDom0WithGuests, type XenDom0Options, type XenDom0State } from './hosts/xen-dom0.js';
import { readLines, send, type ClientMessage, type ControlReply, type ControlRequest, type ExecRequest, type Stage } from './protocol.js';
import { splitWords, ShellSyntaxError } from './words.js';
import {
  addDropbearKey, dropbearKey, ensureForcedCommand, ensureUser, killSshdSync, killStale, LAB_USER, opensshKey,
  removeDropbearKey, startDropbear, startSshd, stopDropbear, stopSshd,
} from './sshd.js';

export type { LabHostSpec, LabClusterSpec };

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
  clusters?: LabClusterSpec[];
}

export const presets = {
  /** A Xen dom0, two 8 TB SATA disks in slots 0 and 1, GPT + md0 (20 GiB) + md1 (rest), both RAID1. */
  xenDom0Raid1(name: string, opts: XenDom0Options = {}): LabHostSpec<XenDom0State> {
    return { name, kind: 'xen-dom0', state: xenDom0Preset(name, opts), location: 'lab: simulated dom0, disks in slots 0 and 1' };
  },
};

/**
 * The lab `npm start` runs: dom0-a with a failed disk and dom0-b (disk replacement), dom0-c running the Xen page's
 * guests (ordered shutdown), and the Proxmox cluster "fma" of pve1, pve2, pve3 with encrypted roots and LUNs
 * (planned reboot, rolling reboot, key rotation). Passphrases are the lab's defaults: proxmoxPassphrase().
 */
export function demoLab(): { hosts: LabHostSpec[]; clusters: LabClusterSpec[] } {
  const cluster = proxmoxCluster({ names: ['pve1', 'pve2', 'pve3'], bootDelayMs: 5_000 });
  return {
    hosts: [
      presets.xenDom0Raid1('dom0-a', { failedSlot: 0 }),
      presets.xenDom0Raid1('dom0-b'),
      xenDom0WithGuests('dom0-c'),
      ...cluster.hosts,
    ],
    clusters: cluster.clusters,
  };
}

/** Whatever the kind, a host may carry LUKS volumes. */
type HostState = WithLuks;

interface HostRuntime {
  spec: LabHostSpec;
  state: HostState;
  address: string;
  opensshKeyPath: string;
  dropbearKeyPath: string;
  /** The SSH server answering for the current stage, if any. */
  daemon: { stage: Stage; child: ChildProcess } | null;
  /** Pending power events, each with what to do if a reset or stop cancels it. */
  timers: Map<NodeJS.Timeout, () => void>;
  audit: AuditEntry[];
  /** Serializes power transitions. */
  transition: Promise<void>;
}

const DEFAULT_UNLOCK_BOOT_DELAY_MS = 300;

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
  private readonly onExit = () => { for (const h of this.hosts.values()) if (h.daemon) killSshdSync(h.daemon.child); };

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
    if (opts.hosts.some((h) => rootVolume(h.state))) addDropbearKey(clientPub, dir);

    const runtimes: HostRuntime[] = [];
    const inventoryHosts = opts.hosts.map((spec, i) => {
      if (spec.state.name !== spec.name || spec.state.kind !== spec.kind) throw new Error(`lab host ${spec.name}: its state names ${spec.state.name} (${spec.state.kind})`);
      const opensshKeyPath = join(dir, 'keys', `${spec.name}_ssh_host_ed25519_key`);
      const dropbearKeyPath = join(dir, 'keys', `${spec.name}_dropbear_ed25519_host_key`);
      const openssh = opensshKey(opensshKeyPath, `root@${spec.name}`);
      const dropbear = dropbearKey(dropbearKeyPath);
      runtimes.push({ spec, state: spec.state, address: addresses[i]!, opensshKeyPath, dropbearKeyPath, daemon: null, timers: new Map(), audit: [], transition: Promise.resolve() });
      return {
        name: spec.name, address: addresses[i]!, port: 22, user: LAB_USER, kind: spec.kind,
        hostKeys: { openssh, dropbear },
        ...(spec.location ? { location: spec.location } : {}),
        ...(spec.guests ? { guests: spec.guests } : {}),
      };
    });
    const inventory = parseInventory({ simulated: true, ssh: { privateKeyPath: clientKey }, hosts: inventoryHosts, clusters: opts.clusters ?? [] }, 'lab inventory');
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

  /** The host's live state, settled to now. S is the caller's claim about its kind (XenDom0State, ...). */
  state<S extends BaseHostState = BaseHostState>(host: string): S {
    const rt = this.host(host);
    this.settle(rt);
    return rt.state as unknown as S;
  }

  /** Where the host is: 'down', or the stage whose SSH server is (or is about to be) answering. */
  stage(host: string): 'down' | Stage {
    return this.host(host).state.power;
  }

  /** Would cryptroot-unlock / luksOpen accept this passphrase for the volume (by dm name)? No state change. */
  luksAccepts(host: string, volumeName: string, passphrase: string | Buffer): boolean {
    const volume = this.host(host).state.luks?.volumes.find((v) => v.name === volumeName);
    if (!volume) throw new Error(`lab host ${host} has no LUKS volume ${volumeName}`);
    return matchingSlot(volume, passphrase) >= 0;
  }

  swapDisk(host: string, slot: number, opts: { sizeBytes?: number; serial?: string } = {}): void {
    const rt = this.xen(host);
    this.settle(rt);
    swapDisk(rt.state as XenDom0State, slot, Date.now(), opts);
    this.persist(rt);
  }

  failDisk(host: string, slot: number): void {
    const rt = this.xen(host);
    this.settle(rt);
    failDisk(rt.state as XenDom0State, slot, Date.now());
    this.persist(rt);
  }

  setRenameOnNextBoot(host: string, rename: boolean): void {
    const rt = this.xen(host);
    (rt.state as XenDom0State).renameOnNextBoot = rename;
    this.persist(rt);
  }

  /** The host will not come back by itself after its next reboot or poweroff (or power cycle). */
  setNeverComesBack(host: string, never: boolean): void {
    const rt = this.host(host);
    if (never) rt.state.neverComesBack = true;
    else delete rt.state.neverComesBack;
    this.persist(rt);
  }

  /**
   * Press the power button (a person repaired the host if it was never coming back): clears neverComesBack;
   * a host that is off boots. Resolves once it answers SSH (dropbear first for a LUKS root).
   */
  async powerOn(host: string): Promise<void> {
    const rt = this.host(host);
    this.setNeverComesBack(host, false);
    await rt.transition;
    if (rt.state.power !== 'down') return;
    if (rt.timers.size) return this.waitUp(rt); // already booting
    await this.bootAfter(rt, rt.state.bootDelayMs);
  }

  /**
   * Hard reset (also what unsticks an initramfs that gave up): the host goes down at once, whatever it was
   * doing, and boots again unless it never comes back. Resolves once it answers SSH again (or is down for good).
   */
  async powerCycle(host: string): Promise<void> {
    const rt = this.host(host);
    this.clearTimers(rt);
    await this.goDown(rt);
    if (this.stopped || rt.state.neverComesBack) return;
    await this.bootAfter(rt, rt.state.bootDelayMs);
  }

  /** The host answers SSH (in whichever stage). */
  isUp(host: string): boolean {
    const rt = this.host(host);
    const child = rt.daemon?.child;
    return rt.state.power !== 'down' && !!child && child.exitCode === null && child.signalCode === null;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    process.off('exit', this.onExit);
    for (const rt of this.hosts.values()) {
      this.clearTimers(rt);
      await this.stopDaemon(rt);
    }
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    rmSync(this.socketPath, { force: true });
    if ([...this.hosts.values()].some((rt) => rootVolume(rt.state))) {
      try { removeDropbearKey(this.dir); } catch { /* another lab holds the lock: our line goes when our dir does */ }
    }
  }

  // ------------------------------------------------------------ power

  private host(name: string): HostRuntime {
    const rt = this.hosts.get(name);
    if (!rt) throw new Error(`unknown lab host ${name}`);
    return rt;
  }

  private xen(name: string): HostRuntime {
    const rt = this.host(name);
    if (rt.state.kind !== 'xen-dom0') throw new Error(`lab host ${name} is a ${rt.state.kind}, not a xen-dom0 with disks in slots`);
    return rt;
  }

  private settle(rt: HostRuntime): void {
    simulatorFor(rt.state).settle(rt.state, Date.now());
  }

  private persist(rt: HostRuntime): void {
    writeFileSync(join(this.dir, 'state', `${rt.spec.name}.json`), `${JSON.stringify(rt.state, null, 2)}\n`);
  }

  private persistAll(): void {
    for (const rt of this.hosts.values()) this.persist(rt);
  }

  private clearTimers(rt: HostRuntime): void {
    const cancelled = [...rt.timers];
    rt.timers.clear();
    for (const [timer, onCancel] of cancelled) { clearTimeout(timer); onCancel(); }
  }

  private later(rt: HostRuntime, delayMs: number, fn: () => void, onCancel: () => void = () => undefined): void {
    const timer = setTimeout(() => { rt.timers.delete(timer); fn(); }, delayMs);
    rt.timers.set(timer, onCancel);
  }

  private async stopDaemon(rt: HostRuntime): Promise<void> {
    const daemon = rt.daemon;
    rt.daemon = null;
    if (!daemon) return;
    const run = join(this.dir, 'run');
    await (daemon.stage === 'dropbear' ? stopDropbear(daemon.child, run, rt.spec.name) : stopSshd(daemon.child, run, rt.spec.name));
  }

  private async enterStage(rt: HostRuntime, stage: Stage): Promise<void> {
    await this.stopDaemon(rt);
    const forceCommand = `${process.execPath} ${this.forceCommandScript} ${this.socketPath} ${rt.spec.name} ${stage}`;
    const common = { dir: this.dir, host: rt.spec.name, address: rt.address, forceCommand };
    const child = stage === 'dropbear'
      ? await startDropbear({ ...common, hostKeyPath: rt.dropbearKeyPath })
      : await startSshd({ ...common, hostKeyPath: rt.opensshKeyPath, authorizedKeysPath: this.authorizedKeysPath });
    rt.daemon = { stage, child };
    rt.state.power = stage;
    this.persist(rt);
  }

  /** Power on: the kind's devices are enumerated, the LUKS mappings are gone; a LUKS root waits in dropbear. */
  private bootNow(rt: HostRuntime): Promise<void> {
    rt.transition = rt.transition.then(async () => {
      if (this.stopped) return;
      // A preset whose root is already open describes a host the lab finds running (a Proxmox node in service):
      // its first boot keeps the volumes as they are. Otherwise the first boot is a real one, through dropbear.
      const foundRunning = rt.state.bootCount === 0 && rootVolume(rt.state)?.open === true;
      simulatorFor(rt.state).boot(rt.state, Date.now());
      if (foundRunning) {
        await this.enterStage(rt, 'openssh');
        return;
      }
      luksBoot(rt.state);
      await this.enterStage(rt, rootVolume(rt.state) ? 'dropbear' : 'openssh');
    });
    return rt.transition;
  }

  private bootAfter(rt: HostRuntime, delayMs: number): Promise<void> {
    // A reset or stop cancelling the boot settles the promise too: whoever waits looks at the state again.
    return new Promise((resolvePromise, reject) => this.later(rt, delayMs, () => { this.bootNow(rt).then(resolvePromise, reject); }, resolvePromise));
  }

  private async waitUp(rt: HostRuntime): Promise<void> {
    while (!this.stopped && rt.state.power === 'down') await new Promise((r) => setTimeout(r, 50));
  }

  /** Power off now: the SSH server and its sessions die, the disks lose their names, mappings close. */
  private goDown(rt: HostRuntime): Promise<void> {
    rt.transition = rt.transition.then(async () => {
      this.settle(rt);
      rt.state.power = 'down';
      // Only kinds with disks in slots name them (xen-dom0); a name means nothing while the host is off.
      const disks = (rt.state as Partial<XenDom0State>).disks;
      if (Array.isArray(disks)) for (const disk of disks) disk.kname = null;
      luksPowerOff(rt.state);
      await this.stopDaemon(rt);
      this.persist(rt);
    });
    return rt.transition;
  }

  /** `reboot` or `poweroff` ran: the reply goes out first, then the host goes down (and maybe comes back). */
  private shutdown(rt: HostRuntime, then: 'reboot' | 'poweroff'): void {
    this.later(rt, 200, () => {
      void this.goDown(rt).then(() => {
        if (then === 'reboot' && !this.stopped && !rt.state.neverComesBack) return this.bootAfter(rt, rt.state.bootDelayMs);
        return undefined;
      }).catch(() => undefined);
    });
  }

  /** cryptroot-unlock succeeded: the initramfs ends (dropbear with it), the system boots on to OpenSSH. */
  private continueBoot(rt: HostRuntime): void {
    this.later(rt, 200, () => {
      rt.transition = rt.transition.then(() => this.stopDaemon(rt));
      const delay = rt.state.luks?.unlockBootDelayMs ?? DEFAULT_UNLOCK_BOOT_DELAY_MS;
      this.later(rt, delay, () => {
        rt.transition = rt.transition.then(async () => {
          if (!this.stopped && rt.state.power === 'dropbear') await this.enterStage(rt, 'openssh');
        }).catch(() => undefined);
      });
    });
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
    const wasLocked = request.stage === 'dropbear' && !rootVolume(rt.state)?.open;
    const result = this.run(rt, command, request.stage, now, stdin);
    if (result === 'needStdin') return result;
    const entry: AuditEntry = { time: new Date(now).toISOString(), stage: request.stage, command, exitCode: result.exitCode };
    rt.audit.push(entry);
    appendFileSync(join(this.dir, 'audit', `${rt.spec.name}.jsonl`), `${JSON.stringify(entry)}\n`);
    // A command may change other hosts too (a Proxmox migration moves a guest between two nodes).
    this.persistAll();
    if (wasLocked && rootVolume(rt.state)?.open) this.continueBoot(rt);
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
    let out: CommandResult | NeedStdin;
    if (stage === 'dropbear') {
      // The initramfs: BusyBox and cryptroot-unlock, nothing of the installed system.
      out = initramfsExec(rt.state, argv, stdin ? { stdin } : {});
    } else {
      const sim = simulatorFor(rt.state);
      sim.settle(rt.state, now);
      const ctx = { now, stage, lab: this.view(), ...(stdin ? { stdin } : {}) };
      out = luksExec(rt.state, argv, ctx) ?? sim.exec(rt.state, argv, ctx);
    }
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
              const xen = rt.state.kind === 'xen-dom0' ? rt.state as XenDom0State : null;
              return {
                name: rt.spec.name, kind: rt.spec.kind, address: rt.address, up: this.isUp(rt.spec.name), power: rt.state.power,
                ...(rt.state.neverComesBack ? { neverComesBack: true } : {}),
                ...(xen ? {
                  disks: xen.disks.map((d) => ({ slot: d.slot, kname: d.kname, serial: d.serial, sizeBytes: d.sizeBytes })),
                  arrays: xen.arrays.map((a) => ({ name: a.name, members: a.members.map((m) => ({ serial: m.serial, partition: m.partition, state: m.state, raidDevice: m.raidDevice })) })),
                } : {}),
                ...(rt.state.luks ? {
                  luks: {
                    unlockTries: rt.state.luks.unlockTries, maxUnlockTries: rt.state.luks.maxUnlockTries,
                    volumes: rt.state.luks.volumes.map((v) => ({ name: v.name, root: v.root, open: v.open, vg: v.vg ?? null, vgActive: v.vgActive, keys: v.keySlots.filter((k) => k !== null).length })),
                  },
                } : {}),
              };
            }),
          },
        };
      case 'swap-disk': {
        const host = need();
        const s = slot();
        if (request.renameOnBoot) this.setRenameOnNextBoot(host, true);
        this.swapDisk(host, s);
        return { ok: true, result: this.state<XenDom0State>(host).disks.find((d) => d.slot === s) };
      }
      case 'fail-disk':
        this.failDisk(need(), slot());
        return { ok: true, result: null };
      case 'power-on':
        await this.powerOn(need());
        return { ok: true, result: { power: this.stage(need()) } };
      case 'power-cycle':
        await this.powerCycle(need());
        return { ok: true, result: { power: this.stage(need()) } };
      case 'never-comes-back':
        this.setNeverComesBack(need(), request.value ?? true);
        return { ok: true, result: null };
      case 'audit':
        return { ok: true, result: this.audit(need()) };
      default:
        throw new Error(`unknown control operation ${String((request as { op: unknown }).op)}`);
    }
  }
}

export type { XenDom0State, XenDom0Options, BaseHostState };
