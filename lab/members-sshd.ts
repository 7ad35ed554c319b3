/**
 * The members' sshd of a lab hypervisor: a second real OpenSSH sshd per host that has the members' jailed accounts
 * (capabilities/ganeti/accounts.ts) and an sshd configuration (capabilities/sshd), running the configuration the
 * simulated host last reloaded (state.sshdRunning), so that the real sshd enforces its Match blocks (PermitOpen,
 * PermitTTY...) on a member's `ssh -N -L PORT:localhost:PORT REF@HYP`. Port 22 of the host's address is the engine's
 * sshd (sshd.ts); this one listens on MEMBERS_SSH_PORT.
 *
 * The simulated users exist for it only: Debian's libnss-wrapper (LD_PRELOAD) gives it passwd and group files the lab
 * writes from the simulated users and groups, never the machine's. The simulated /home (state.homes) is written under
 * the lab folder and bind-mounted on /home in a mount namespace of its own, so the config's `/home/REF/banner` paths
 * and the default `.ssh/authorized_keys` stay as the host has them, and the member's uid reaches them whatever the
 * lab folder's modes. Files are root's, not group/world-writable: what StrictModes accepts. A member's session runs
 * with the simulated uid, in the daemon's PID namespace only, and can run nothing but its /bin/false or a forward.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnTetheredDaemon } from '../common/tether.js';
import { accounts, type WithAccounts } from './capabilities/ganeti/accounts.js';
import { sshd } from './capabilities/sshd/index.js';
import type { Capability } from './core/capability.js';
import { killGroup, stopDaemon, waitForPort } from './daemons.js';

export const MEMBERS_SSH_PORT = 2222;
/** First line of its config: how killStale (sshd.ts) knows a members' sshd an earlier lab left. */
export const MEMBERS_MARKER = "# runbook-lab: members' sshd";

/** Debian's libnss-wrapper, in the machine's multiarch folder. */
function nssWrapper(): string {
  const found = ['x86_64-linux-gnu', 'aarch64-linux-gnu'].map((a) => `/usr/lib/${a}/libnss_wrapper.so`).find((p) => existsSync(p));
  if (!found) throw new Error("libnss_wrapper.so is missing: install libnss-wrapper (npm run setup does); the members' sshd needs it");
  return found;
}

/**
 * A host prepared for members (ganetiHypervisorSetup, or a preset's `prepared`): a group of its users has its
 * `Match group` block in the config sshd runs. Only such a host gets a members' sshd: the lab's other hypervisors
 * (every Proxmox node has the capabilities) cost no daemon.
 */
export function preparedForMembers(state: WithAccounts): boolean {
  const lines = new Set((state.sshdRunning ?? '').split('\n').map((l) => l.trim()));
  return (state.groups ?? []).some((g) => lines.has(`Match group ${g.name}`));
}

/** Hosts with both capabilities may get a members' sshd (once prepared for members). */
export function servesMembers(capabilities: readonly Capability<any>[]): boolean {
  return capabilities.includes(accounts) && capabilities.includes(sshd);
}

export interface MembersSshdOptions {
  dir: string;
  host: string;
  address: string;
  hostKeyPath: string;
}

/** Options the lab sets itself: they replace the host's own (sshd keeps the first value of most keywords). */
const REPLACED = /^\s*(Include|ListenAddress|Port|HostKey|PidFile|UsePAM)\b/i;

/**
 * The host's running sshd_config with the lab's edits, each said in the header: its listen address and host key, its
 * pid file in the lab folder, no PAM (PAM would look the users up in the machine's files), no root login (root is
 * in its passwd for sshd's own sake, not for logins), and no Include (the lab's hosts have no sshd_config.d).
 */
export function membersConfig(running: string, o: MembersSshdOptions): string {
  const body = running.split('\n').map((l) => (REPLACED.test(l) ? `# runbook-lab: replaced: ${l.trim()}` : l)).join('\n');
  return [
    `${MEMBERS_MARKER} of ${o.host}: its running sshd_config (state.sshdRunning) below, after the lab's edits`,
    `ListenAddress ${o.address}:${MEMBERS_SSH_PORT}`,
    `HostKey ${o.hostKeyPath}`,
    `PidFile ${join(o.dir, 'run', `${o.host}.members-sshd.pid`)}`,
    'UsePAM no',
    'PermitRootLogin no',
    '# ---- the host\'s running sshd_config',
    body,
  ].join('\n');
}

function writeWhole(path: string, text: string, mode = 0o644): void {
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return;
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, path);
}

/** Make `root` hold exactly the simulated /home: folders 0755, files 0644, all root's (StrictModes accepts root's). */
function materializeHomes(root: string, homes: Record<string, string | null>): void {
  mkdirSync(root, { recursive: true, mode: 0o755 });
  const wanted = new Map(Object.entries(homes).map(([p, v]) => [join(root, p.slice('/home/'.length)), v]));
  for (const [path, text] of [...wanted].sort(([a], [b]) => a.length - b.length)) {
    if (text === null) mkdirSync(path, { recursive: true, mode: 0o755 });
    else { mkdirSync(join(path, '..'), { recursive: true, mode: 0o755 }); writeWhole(path, text); }
  }
  // What the simulated host no longer has goes (a removed member, a rewritten tree).
  const prune = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (!wanted.has(path)) { rmSync(path, { recursive: true, force: true }); continue; }
      if (statSync(path).isDirectory()) prune(path);
    }
  };
  prune(root);
}

/** The passwd and group files nss_wrapper serves: root and sshd's privilege separation user, then the simulated ones. */
function nssFiles(state: WithAccounts): { passwd: string; group: string } {
  const real = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('sshd:')) ?? 'sshd:x:105:65534::/run/sshd:/usr/sbin/nologin';
  const passwd = [
    'root:x:0:0:root:/nonexistent:/usr/sbin/nologin',
    real,
    // `*`: adduser --disabled-password, no password ever (sshd treats `!` as a locked account and refuses keys too).
    ...(state.users ?? []).map((u) => `${u.name}:${u.passwordDisabled ? '*' : 'x'}:${u.uid}:${u.gid}:,,,:/home/${u.name}:${u.shell}`),
  ];
  const groups = [...(state.groups ?? [])];
  if (!groups.some((g) => g.gid === 65534)) groups.push({ name: 'nogroup', gid: 65534 });
  return { passwd: `${passwd.join('\n')}\n`, group: groups.map((g) => `${g.name}:x:${g.gid}:\n`).join('') };
}

/** The inode of the socket listening on address:port (IPv4), from the kernel's table of this network namespace. */
function listeningInode(address: string, port: number): string | null {
  const hex = address.split('.').map((b) => Number(b).toString(16).padStart(2, '0').toUpperCase()).reverse().join('');
  const local = `${hex}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[3] === '0A') return f[9] ?? null;
  }
  return null;
}

/** One host's members' sshd: started with the host's system, following its state after every command. */
export class MembersSshd {
  private child: ChildProcess | null = null;
  /** The host's system runs: it should have a members' sshd (none while its config is one sshd refuses). */
  private wanted = false;
  /** The running config it was started or reloaded with. */
  private applied = '';
  private stderr = '';
  private readonly base: string;
  private readonly configPath: string;
  private readonly pidFile: string;

  constructor(private readonly o: MembersSshdOptions) {
    this.base = join(o.dir, 'members', o.host);
    this.configPath = join(o.dir, 'sshd', `${o.host}.members.conf`);
    this.pidFile = join(o.dir, 'run', `${o.host}.members.pid`);
  }

  /** The real files follow the simulated users, groups and /home. */
  private materialize(state: WithAccounts): void {
    mkdirSync(this.base, { recursive: true, mode: 0o755 });
    const { passwd, group } = nssFiles(state);
    writeWhole(join(this.base, 'passwd'), passwd);
    writeWhole(join(this.base, 'group'), group);
    materializeHomes(join(this.base, 'home'), state.homes ?? {});
  }

  /**
   * Put the config for `running` in place once the real `sshd -t` passes it; otherwise say why and keep the file
   * there was. A host may run a config the real sshd refuses (a test's broken file): it then has no members' sshd.
   */
  private install(running: string): boolean {
    this.applied = running;
    const next = `${this.configPath}.next`;
    writeFileSync(next, membersConfig(running, this.o));
    const check = spawnSync('/usr/sbin/sshd', ['-t', '-f', next], { encoding: 'utf8' });
    if (check.status === 0) { renameSync(next, this.configPath); return true; }
    process.stderr.write(`runbook-lab: ${this.o.host}: no members' sshd on this config: sshd -t refused it: ${check.stderr}`);
    return false;
  }

  async start(state: WithAccounts): Promise<void> {
    this.wanted = true;
    if (!preparedForMembers(state)) { this.applied = state.sshdRunning ?? ''; return; }
    const preload = nssWrapper();
    this.materialize(state);
    if (!this.install(state.sshdRunning ?? '')) return;
    // Its own mount namespace, /home the lab's copy; sshd, exec'd by the sh, is the init of the tether's PID namespace.
    const child = spawnTetheredDaemon('/usr/bin/unshare', [
      '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', 'mount --bind "$1" /home && shift && exec "$@"', 'sh',
      join(this.base, 'home'), '/usr/sbin/sshd', '-D', '-e', '-f', this.configPath,
    ], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LD_PRELOAD: preload, NSS_WRAPPER_PASSWD: join(this.base, 'passwd'), NSS_WRAPPER_GROUP: join(this.base, 'group') },
    });
    this.child = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => { this.stderr = (this.stderr + c).slice(-4000); });
    child.on('error', (e) => { this.stderr += String(e); });
    if (child.pid) writeFileSync(this.pidFile, `${child.pid}\n`);
    try {
      await waitForPort("members' sshd", this.o.address, MEMBERS_SSH_PORT, child, 5000, () => this.stderr);
    } catch (error) {
      this.killSync();
      this.child = null;
      throw error;
    }
  }

  /** After a command: the files follow the state; a new running config (a reload on the host) is a SIGHUP, as systemctl reload does. */
  sync(state: WithAccounts): void {
    if (!this.wanted) return;
    const running = state.sshdRunning ?? '';
    if (!this.child) {
      // It had none (not prepared yet, or its config was refused): a reload with a good one starts it.
      if (running !== this.applied && preparedForMembers(state)) void this.start(state).catch((error: Error) => process.stderr.write(`runbook-lab: ${this.o.host}: members' sshd: ${error.message}\n`));
      return;
    }
    this.materialize(state);
    if (running === this.applied) return;
    if (!this.install(running)) return;
    const sshdPid = this.sshdPid();
    if (!sshdPid) return;
    // On SIGHUP sshd closes its socket and re-execs itself on the new file: the reload is done when a new listening
    // socket is there. Waited for here, so that the host's `systemctl reload ssh` answers once members can connect.
    const before = listeningInode(this.o.address, MEMBERS_SSH_PORT);
    process.kill(sshdPid, 'SIGHUP');
    const deadline = Date.now() + 5000;
    for (;;) {
      const now = listeningInode(this.o.address, MEMBERS_SSH_PORT);
      if (now && now !== before) return;
      if (Date.now() > deadline) {
        process.stderr.write(`runbook-lab: ${this.o.host}: members' sshd did not listen again within 5 s of its reload: ${this.stderr.slice(-500)}\n`);
        return;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }

  /** sshd itself: the one child of the tether's `unshare --fork` (the sh in between exec'd it). */
  private sshdPid(): number | null {
    if (!this.child?.pid) return null;
    try {
      const pid = Number(readFileSync(`/proc/${this.child.pid}/task/${this.child.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
      return pid > 1 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sshd') ? pid : null;
    } catch { return null; }
  }

  stop(): Promise<void> {
    this.wanted = false;
    const child = this.child;
    this.child = null;
    return child ? stopDaemon(child, this.pidFile) : Promise.resolve();
  }

  killSync(): void {
    const child = this.child;
    if (child?.pid && child.exitCode === null && child.signalCode === null) killGroup(child.pid);
  }
}
