/**
 * Ganeti for the members' VMs: the cluster read on its master (nodes, instances), an instance's state changed only
 * when it is not already what is wanted, and the member's jailed account on the hypervisor: the user, files written
 * whole from stdin, each checked first. The `Match User` block goes through sshdConfig's addMatchBlock (sshd -t).
 */
import { gnt, jailedAccount, sshdConfig, type Command } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { parseGntInstances, parseGntNodes, type GntInstanceRow, type GntNodeRow } from './parsers/ganeti.js';
import type { Outcome } from './raid/activities.js';
import type { RemoteShell } from './ssh/remote.js';

/** What the member's account looks like now on the hypervisor. */
export interface JailedAccountState {
  /** The group's gid (the hypervisor setup made the group), or null when it is missing. */
  gid: number | null;
  userExists: boolean;
  /** The `Match group` block of the hypervisor setup is in sshd_config. */
  groupBlockPresent: boolean;
  userBlockPresent: boolean;
  /** The member's authorized_keys, or null when there is none. */
  authorizedKeys: string | null;
}

export function ganetiActivities(remote: RemoteShell) {
  const instances = async (master: string) => parseGntInstances((await remote.run(master, gnt.instances())).stdout);
  const instance = async (master: string, name: string) => (await instances(master)).find((i) => i.name === name);
  const read = async (host: string, path: string) => {
    const out = await remote.run(host, jailedAccount.read(path), { allowFailure: true });
    return out.exitCode === 0 ? out.stdout : null;
  };

  return {
    async ganetiNodes(master: string): Promise<GntNodeRow[]> {
      return parseGntNodes((await remote.run(master, gnt.nodes())).stdout);
    },

    async ganetiInstances(master: string): Promise<GntInstanceRow[]> {
      return instances(master);
    },

    /**
     * Run `command` on the master unless the instance already is as `want` says (its status, its boot order, its primary);
     * read again after, so `done` means Ganeti says so.
     */
    async ganetiInstanceChange(master: string, name: string, want: { status?: string; bootOrder?: string; pnode?: string }, command: Command): Promise<Outcome> {
      const matches = (i: GntInstanceRow | undefined) => i !== undefined && (!want.status || i.status === want.status) && (!want.bootOrder || i.bootOrder === want.bootOrder) && (!want.pnode || i.pnode === want.pnode);
      const before = await instance(master, name);
      if (!before) throw failure('CommandFailed', `instance ${name} is not in the cluster (gnt-instance list on ${master})`);
      if (matches(before)) return 'already done';
      await remote.run(master, command);
      const after = await instance(master, name);
      if (!matches(after)) throw failure('CommandFailed', `${command.text} ran, but gnt-instance list shows ${name} ${after?.status ?? 'gone'}, boot order ${after?.bootOrder ?? '?'}, primary ${after?.pnode ?? '?'}`);
      return 'done';
    },

    async readJailedAccount(host: string, user: string, group: string, blocks: { group: string; user: string }): Promise<JailedAccountState> {
      const groupLine = (await remote.run(host, sshdConfig.groupExists(group), { allowFailure: true })).stdout;
      const gid = /^[^:]+:[^:]*:(\d+):/.exec(groupLine)?.[1];
      const userExists = (await remote.run(host, jailedAccount.passwd(user), { allowFailure: true })).exitCode === 0;
      const config = (await remote.run(host, sshdConfig.read())).stdout;
      const authorizedKeys = await read(host, `/home/${user}/.ssh/authorized_keys`);
      return { gid: gid === undefined ? null : Number(gid), userExists, groupBlockPresent: config.includes(blocks.group), userBlockPresent: config.includes(blocks.user), authorizedKeys };
    },

    /** The page's adduser, unless `getent passwd` finds the user. */
    async ensureJailedUser(host: string, user: string, command: Command): Promise<Outcome> {
      if ((await remote.run(host, jailedAccount.passwd(user), { allowFailure: true })).exitCode === 0) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /** A file of the member's home written whole (its folder made first), unless it holds exactly `content`. */
    async ensureHomeFile(host: string, path: string, content: string, command: Command): Promise<Outcome> {
      if ((await read(host, path)) === content) return 'already done';
      await remote.run(host, jailedAccount.mkdir(path.slice(0, path.lastIndexOf('/'))));
      await remote.run(host, command, { stdin: content });
      if ((await read(host, path)) !== content) throw failure('CommandFailed', `${path} on ${host} does not hold what was written`);
      return 'done';
    },
  };
}
