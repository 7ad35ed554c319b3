/**
 * The members' jailed accounts on a hypervisor (page: "adduser … --disabled-password --shell /bin/false"): users in
 * /etc/passwd (`getent passwd`), and their files under /home (`mkdir -p`, `tee` of a whole file, `cat`). Groups and
 * sshd_config are the sshd capability's.
 */
import type { Capability } from '../../core/capability.js';
import { fail, ok, type CommandResult } from '../../core/types.js';
import type { WithSshd } from '../sshd/index.js';

export interface LabUser {
  name: string;
  uid: number;
  gid: number;
  shell: string;
  /** adduser --disabled-password: no password login ever. */
  passwordDisabled: boolean;
}

export interface WithAccounts extends WithSshd {
  users?: LabUser[];
  /** Files and folders under /home by path (a folder's value is null). */
  homes?: Record<string, string | null>;
}


const HOME_PATH = /^\/home\/[a-z_][a-z0-9_-]{0,31}(\/[A-Za-z0-9_.-]+)*$/;
const parent = (path: string) => path.slice(0, path.lastIndexOf('/'));

function passwd(state: WithAccounts, args: string[]): CommandResult | null {
  if (args.length !== 2 || args[0] !== 'passwd') return null;
  const u = state.users?.find((x) => x.name === args[1]);
  return u ? ok(`${u.name}:x:${u.uid}:${u.gid}:,,,:/home/${u.name}:${u.shell}\n`) : fail(2, '');
}

/** The page's `adduser --gecos '' --gid GID --disabled-password --shell /bin/false NAME`. */
function adduser(state: WithAccounts, args: string[]): CommandResult | null {
  const [gecos, empty, gidFlag, gidText, disabled, shellFlag, shell, name] = args;
  if (args.length !== 8 || gecos !== '--gecos' || empty !== '' || gidFlag !== '--gid' || !/^\d+$/.test(gidText!) || disabled !== '--disabled-password' || shellFlag !== '--shell' || !/^[a-z_][a-z0-9_-]{0,31}$/.test(name!)) return null;
  const gid = Number(gidText);
  if (state.users?.some((u) => u.name === name)) return fail(1, `fatal: The user \`${name}' already exists.\n`);
  if (!state.groups?.some((g) => g.gid === gid)) return fail(1, `fatal: The group \`${gid}' does not exist.\n`);
  const uid = Math.max(1000, ...(state.users ?? []).map((u) => u.uid)) + 1;
  (state.users ??= []).push({ name: name!, uid, gid, shell: shell!, passwordDisabled: true });
  (state.homes ??= {})[`/home/${name}`] = null;
  return ok(`Adding user \`${name}' ...\nAdding new user \`${name}' (${uid}) with group \`${state.groups!.find((g) => g.gid === gid)!.name}' ...\nCreating home directory \`/home/${name}' ...\nCopying files from \`/etc/skel' ...\n`);
}

/** `mkdir -p` under /home: the folder and its missing parents (a file in the way refuses, as mkdir does). */
function mkdir(state: WithAccounts, args: string[]): CommandResult | null {
  if (args.length !== 2 || args[0] !== '-p' || !HOME_PATH.test(args[1]!)) return null;
  const homes = (state.homes ??= {});
  const parts = args[1]!.split('/');
  for (let i = 3; i <= parts.length; i++) {
    const path = parts.slice(0, i).join('/');
    if (typeof homes[path] === 'string') return fail(1, `mkdir: cannot create directory '${args[1]}': Not a directory\n`);
    homes[path] ??= null;
  }
  return ok();
}

export const accounts: Capability<WithAccounts> = {
  name: "members' jailed accounts",
  commands: {
    getent: (state, args) => passwd(state, args),
    adduser: (state, args) => adduser(state, args),
    mkdir: (state, args) => mkdir(state, args),
    tee: (state, args, ctx) => {
      if (args.length !== 1 || !HOME_PATH.test(args[0]!)) return null;
      if (state.homes?.[parent(args[0]!)] !== null) return fail(1, `tee: ${args[0]}: No such file or directory\n`);
      if (!ctx.stdin) return { needStdin: true };
      state.homes![args[0]!] = ctx.stdin.toString('utf8');
      return { stdout: ctx.stdin, stderr: '', exitCode: 0 };
    },
    cat: (state, args) => {
      if (args.length !== 1 || !HOME_PATH.test(args[0]!)) return null;
      const text = state.homes?.[args[0]!];
      if (text === undefined) return fail(1, `cat: ${args[0]}: No such file or directory\n`);
      return text === null ? fail(1, `cat: ${args[0]}: Is a directory\n`) : ok(text);
    },
  },
  status: (state) => (state.users?.length ? { users: state.users.map((u) => u.name) } : {}),
};


