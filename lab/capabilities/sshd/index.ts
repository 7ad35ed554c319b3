/**
 * A host's Unix groups and its OpenSSH server configuration, for the Ganeti hypervisor setup: `getent group`,
 * `addgroup`, `cat`/`tee`/`cp -p` of /etc/ssh/sshd_config and its copies, `sshd -t` checked by the real sshd
 * (`sshd -t -f` on a copy, with a throwaway host key), `systemctl reload ssh`, which a broken file makes fail.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Capability } from '../../core/capability.js';
import { fail, ok, type BaseHostState, type CommandResult } from '../../core/types.js';

export const SSHD_CONFIG = '/etc/ssh/sshd_config';

export interface WithSshd extends BaseHostState {
  groups?: { name: string; gid: number }[];
  /** Files of /etc/ssh by path: sshd_config and the copies made of it. */
  sshFiles?: Record<string, string>;
  /** The configuration sshd runs with (what the last successful reload read). */
  sshdRunning?: string;
  sshReloads?: number;
}

/** Debian's sshd_config, short: what a freshly installed node has. */
export const DEBIAN_SSHD_CONFIG = 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nPrintMotd no\nAcceptEnv LANG LC_*\nSubsystem\tsftp\t/usr/lib/openssh/sftp-server\n';

export function sshdState(config = DEBIAN_SSHD_CONFIG): Pick<WithSshd, 'groups' | 'sshFiles' | 'sshdRunning' | 'sshReloads'> {
  return { groups: [{ name: 'root', gid: 0 }, { name: 'users', gid: 100 }], sshFiles: { [SSHD_CONFIG]: config }, sshdRunning: config, sshReloads: 0 };
}

let scratch: { dir: string; key: string } | undefined;
/** A folder and a host key for `sshd -t -f`: the real parser, on our copy, never the machine's own files. */
function sshdScratch(): { dir: string; key: string } {
  if (scratch && existsSync(scratch.key)) return scratch;
  const dir = mkdtempSync(join(tmpdir(), 'runbook-lab-sshd-t-'));
  const key = join(dir, 'host_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  scratch = { dir, key };
  return scratch;
}

/** The real `sshd -t` on `config`: its exit code and messages. */
export function sshdTest(config: string): { code: number; stderr: string } {
  const { dir, key } = sshdScratch();
  const file = join(dir, 'sshd_config');
  // The lab's hosts have no /etc/ssh/sshd_config.d of their own: the Include would read the machine's.
  writeFileSync(file, config.replace(/^Include .*$/m, ''));
  const run = spawnSync('/usr/sbin/sshd', ['-t', '-f', file, '-h', key], { encoding: 'utf8' });
  return { code: run.status ?? 255, stderr: (run.stderr ?? '').replaceAll(file, SSHD_CONFIG) };
}

const sshPath = (p: string | undefined) => p !== undefined && /^\/etc\/ssh\/[A-Za-z0-9_.-]+$/.test(p);

function cp(state: WithSshd, args: string[]): CommandResult | null {
  if (args.length !== 3 || args[0] !== '-p' || !sshPath(args[1]) || !sshPath(args[2])) return null;
  const text = state.sshFiles?.[args[1]!];
  if (text === undefined) return fail(1, `cp: cannot stat '${args[1]}': No such file or directory\n`);
  state.sshFiles![args[2]!] = text;
  return ok();
}

function group(state: WithSshd, args: string[]): CommandResult | null {
  if (args.length !== 2 || args[0] !== 'group') return null;
  const g = state.groups?.find((x) => x.name === args[1]);
  return g ? ok(`${g.name}:x:${g.gid}:\n`) : fail(2, '');
}

function addgroup(state: WithSshd, args: string[]): CommandResult | null {
  if (args.length !== 1 || !/^[a-z_][a-z0-9_-]*$/.test(args[0]!)) return null;
  state.groups ??= [];
  if (state.groups.some((g) => g.name === args[0])) return fail(1, `fatal: The group \`${args[0]}' already exists.\n`);
  const gid = Math.max(1000, ...state.groups.map((g) => g.gid)) + 1;
  state.groups.push({ name: args[0]!, gid });
  return ok(`Adding group \`${args[0]}' (GID ${gid}) ...\nDone.\n`);
}

export const sshd: Capability<WithSshd> = {
  name: 'OpenSSH server configuration',
  commands: {
    getent: (state, args) => (state.sshFiles ? group(state, args) : null),
    addgroup: (state, args) => (state.sshFiles ? addgroup(state, args) : null),
    cp: (state, args) => (state.sshFiles ? cp(state, args) : null),
    tee: (state, args, ctx) => {
      if (!state.sshFiles || args.length !== 1 || args[0] !== SSHD_CONFIG) return null;
      if (!ctx.stdin) return { needStdin: true };
      state.sshFiles[SSHD_CONFIG] = ctx.stdin.toString('utf8');
      return { stdout: ctx.stdin, stderr: '', exitCode: 0 };
    },
    sshd: (state, args) => {
      if (!state.sshFiles || args.join(' ') !== '-t') return null;
      const { code, stderr } = sshdTest(state.sshFiles[SSHD_CONFIG] ?? '');
      return code === 0 ? ok() : fail(code, stderr);
    },
    systemctl: (state, args) => {
      if (!state.sshFiles || args.join(' ') !== 'reload ssh') return null;
      if (sshdTest(state.sshFiles[SSHD_CONFIG] ?? '').code !== 0) {
        return fail(1, 'Job for ssh.service failed because the control process exited with error code.\nSee "systemctl status ssh.service" and "journalctl -xeu ssh.service" for details.\n');
      }
      state.sshdRunning = state.sshFiles[SSHD_CONFIG];
      state.sshReloads = (state.sshReloads ?? 0) + 1;
      return ok();
    },
  },
  files: {
    [SSHD_CONFIG]: (state) => state.sshFiles?.[SSHD_CONFIG] ?? null,
  },
};
