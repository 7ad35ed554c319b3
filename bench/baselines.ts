/**
 * What the engine is compared with, each running the same `n` commands on the same lab host, one after the other:
 * bash + `ssh` per command, `ssh` over an OpenSSH ControlMaster, `ansible-playbook` (one `raw` task per command,
 * pipelining, no facts) and ssh2 exec on one reused connection (the floor: what our SSH pool does per command).
 * Each returns the wall time of the n commands, in ms, and fails loudly if a command failed.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ssh2';
import type { Host, Inventory } from '../common/inventory.js';
import { sh } from '../common/shell.js';

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.slice(0, 3).join(' ')}... failed: ${error.message}\n${stdout.slice(-2000)}${stderr.slice(-2000)}`));
      else resolve();
    });
  });
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

export interface Baselines {
  ssh(n: number): Promise<number>;
  controlMaster(n: number): Promise<number>;
  ansible(n: number): Promise<number>;
  ssh2(n: number): Promise<number>;
  close(): Promise<void>;
}

export async function baselines(inventory: Inventory, host: Host, command: string, dir: string): Promise<Baselines> {
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `${host.address} ${host.hostKeys.openssh}\n`);
  const key = inventory.ssh.privateKeyPath;
  const sshOpts = [
    '-i', key, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-o', 'IdentitiesOnly=yes',
  ];
  const target = `${host.user}@${host.address}`;
  const loop = (extra: string[]) => (n: number) => timed(() => run('bash', ['-c',
    sh`for i in $(seq ${String(n)}); do ssh ${[...sshOpts, ...extra]} ${target} ${command} >/dev/null || exit 1; done`.text]));

  // One master for the whole run, as an admin's ~/.ssh/config would keep it.
  const control = join(dir, 'cm.sock');
  await run('ssh', [...sshOpts, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=yes', '-o', `ControlPath=${control}`, '-N', '-f', target]);

  // Ansible: its defaults (its own ControlPersist), pipelining on, no fact gathering; raw tasks (no Python on the lab's hosts).
  const ansibleDir = dir;
  writeFileSync(join(ansibleDir, 'ansible.cfg'), [
    '[defaults]', 'gathering = explicit', 'host_key_checking = True', 'interpreter_python = auto_silent', 'stdout_callback = default', 'retry_files_enabled = False',
    '[ssh_connection]', 'pipelining = True', `control_path_dir = ${join(ansibleDir, 'cp')}`,
    `ssh_common_args = -o UserKnownHostsFile=${knownHosts} -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes`, '',
  ].join('\n'));
  writeFileSync(join(ansibleDir, 'hosts.ini'), `lab ansible_host=${host.address} ansible_user=${host.user} ansible_ssh_private_key_file=${key}\n`);
  const playbook = (n: number): string => {
    const file = join(ansibleDir, `play-${n}.yml`);
    const tasks = Array.from({ length: n }, (_, i) => `    - name: read ${i + 1}\n      raw: ${JSON.stringify(command)}\n`).join('');
    writeFileSync(file, `- hosts: lab\n  gather_facts: false\n  tasks:\n${tasks}`);
    return file;
  };
  const ansibleEnv = { ...process.env, ANSIBLE_CONFIG: join(ansibleDir, 'ansible.cfg'), ANSIBLE_LOCAL_TEMP: join(ansibleDir, 'tmp'), ANSIBLE_HOME: join(ansibleDir, 'home') };

  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve()).once('error', reject).connect({
      host: host.address, port: host.port, username: host.user, privateKey: readFileSync(key),
      hostVerifier: () => true, // the floor: the same key exchange, without our pinning code around it
    });
  });
  client.setNoDelay(true);
  const exec = (): Promise<void> => new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) { reject(error); return; }
      channel.resume();
      channel.stderr.resume();
      channel.on('exit', (code: number | null) => { if (code !== 0) reject(new Error(`ssh2 exec of ${command}: exit ${code}`)); });
      channel.on('close', () => resolve());
    });
  });

  return {
    ssh: loop([]),
    controlMaster: loop(['-o', `ControlPath=${control}`]),
    ansible: (n) => { const file = playbook(n); return timed(() => run('ansible-playbook', ['-i', join(ansibleDir, 'hosts.ini'), file], ansibleEnv)); },
    ssh2: (n) => timed(async () => { for (let i = 0; i < n; i++) await exec(); }),
    async close() {
      client.end();
      await new Promise<void>((resolve) => {
        spawn('ssh', [...sshOpts, '-o', `ControlPath=${control}`, '-O', 'exit', target], { stdio: 'ignore' }).once('exit', () => resolve()).once('error', () => resolve());
      });
    },
  };
}
