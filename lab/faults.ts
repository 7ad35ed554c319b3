/**
 * Fault injection for tests: slow commands, and the commands under way with the SSH session that carries each.
 * Lab commands take milliseconds, so a worker killed "during" one would almost always land between two: a delay
 * holds the command after it was received and before the host applies it and answers, so a kill lands inside
 * the host change. The host applies it all the same (the command was received; a dead client does not undo it).
 * Per lab, in memory only: tests set and clear them (control operations `slow`, `unslow`, `in-flight`, `drop-session`).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Slow the commands matching `pattern` on `host` (null: any host), the first `times` of them (null: all). */
export interface SlowRule {
  host: string | null;
  /** `/regex/` or a substring of the command line. */
  pattern: string;
  delayMs: number;
  times: number | null;
}

/** A command received and not answered yet. */
export interface InFlight {
  host: string;
  command: string;
  /** When the lab received it. */
  since: string;
  /** The forced command relaying it (in the SSH session), in its SSH server's PID namespace. */
  pid?: number;
}

export const MAX_DELAY_MS = 10 * 60_000;

/** `/…/` is a regular expression, anything else a substring. Throws on a bad regular expression. */
export function commandMatcher(pattern: string): (command: string) => boolean {
  const regex = /^\/(.+)\/$/s.exec(pattern);
  if (!regex) return (command) => command.includes(pattern);
  const re = new RegExp(regex[1]!);
  return (command) => re.test(command);
}

export class CommandFaults {
  private rules: { rule: SlowRule; matches: (command: string) => boolean; used: number }[] = [];
  private readonly inFlight = new Map<number, InFlight>();
  /** For a command held by a delay: apply it now. */
  private readonly releases = new Map<number, () => void>();
  private nextId = 1;

  slow(rule: SlowRule): void {
    if (!Number.isInteger(rule.delayMs) || rule.delayMs < 0 || rule.delayMs > MAX_DELAY_MS) throw new Error(`delay must be 0..${MAX_DELAY_MS} ms`);
    if (rule.times !== null && (!Number.isInteger(rule.times) || rule.times < 1)) throw new Error('times must be a positive whole number or "all"');
    this.rules.push({ rule, matches: commandMatcher(rule.pattern), used: 0 });
  }

  clear(): void {
    this.rules = [];
  }

  /** How long to hold this command (the first matching rule with uses left spends one). */
  delayFor(host: string, command: string): number {
    const hit = this.rules.find(({ rule, matches, used }) => (rule.host === null || rule.host === host) && (rule.times === null || used < rule.times) && matches(command));
    if (!hit) return 0;
    hit.used += 1;
    return hit.rule.delayMs;
  }

  /** A command arrives: returns the token to call `answered` with. */
  received(command: Omit<InFlight, 'since'>): number {
    const id = this.nextId++;
    this.inFlight.set(id, { ...command, since: new Date().toISOString() });
    return id;
  }

  /** The command is held by a delay; `release` ends the delay at once. */
  held(id: number, release: () => void): void {
    this.releases.set(id, release);
  }

  answered(id: number): void {
    this.inFlight.delete(id);
    this.releases.delete(id);
  }

  underWay(): InFlight[] {
    return [...this.inFlight.values()];
  }

  /**
   * Kill the SSH session (the sshd or dropbear process serving the connection) that carries the command under way
   * on `host` matching `pattern`, as a network drop or a crashed sshd would; a command held by a delay is applied
   * at once, so the host has made the change whose answer the client never gets. Returns the pid killed.
   */
  dropSession(host: string, pattern: string): number {
    const matches = commandMatcher(pattern);
    const command = this.underWay().find((c) => c.host === host && matches(c.command));
    if (!command) throw new Error(`no command matching ${pattern} is under way on ${host}`);
    if (!command.pid) throw new Error(`the forced command of "${command.command}" did not say its pid`);
    const session = sessionOf(hostPid(host, command.pid));
    process.kill(session, 'SIGKILL');
    const id = [...this.inFlight].find(([, c]) => c === command)![0];
    const release = this.releases.get(id);
    this.releases.delete(id);
    release?.();
    return session;
  }
}

/**
 * The forced command's pid as this process sees it: the SSH servers run in PID namespaces of their own
 * (common/tether.ts), so the pid it said is its pid there, the last of its /proc/PID/status NSpid line.
 */
function hostPid(host: string, nsPid: number): number {
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]?.trim().split(/\s+/);
      if (nspid?.at(-1) !== String(nsPid)) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (/(^|\/)forced-command$/.test(argv[0] ?? '') && argv.includes(host)) return Number(entry); // the relay (lab/forced-command.c)
    } catch {
      /* gone meanwhile */
    }
  }
  throw new Error(`no forced command of ${host} with pid ${nsPid} in its namespace`);
}

/** The closest ancestor of `pid` that is an SSH server process (sshd, sshd-session, dropbear): its session. */
function sessionOf(pid: number): number {
  for (let p = pid; p > 1;) {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (p !== pid && /^(sshd|dropbear)/.test(name)) return p;
    p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  throw new Error(`no SSH server process above pid ${pid}`);
}
