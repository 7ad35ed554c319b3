/**
 * The lab's IMAP server: Debian's Dovecot with a config of its own (no file under /etc/dovecot is read), on one
 * loopback address, its Maildirs in the lab folder, tethered to the lab like its sshds (common/tether.ts).
 *
 * Dovecot refuses mail processes running as root, and the lab folder may be private (0700, root's): each mail
 * process therefore chroots into the Maildirs' folder (done as root, before it drops to the lab user), so the
 * folders above it need not be open to anyone.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isLoopback } from '../activities/mail.js';
import { spawnTetheredDaemon } from '../common/tether.js';
import { labRuntimeDir, LAB_USER } from './lab-user.js';
import { killRecorded, stopDaemon, waitForPort } from './daemons.js';

export interface DovecotOptions {
  /** The lab folder: Maildirs in dir/imap/USER/Maildir, passwords in dir/keys/imap-USER.pass. */
  dir: string;
  address: string;
  port?: number;
  users: string[];
}

export interface Dovecot {
  readonly host: string;
  readonly port: number;
  /** The password file of `user` (what the inventory's mail.imap.passFile names). */
  passFile(user: string): string;
  /** Put a message in the user's INBOX as a local delivery agent would: tmp/, then a rename into new/. */
  deliver(user: string, raw: Buffer): string;
  stop(): Promise<void>;
}

const USER = /^[a-z][a-z0-9._-]{0,63}$/;

function labIds(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', LAB_USER], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', LAB_USER], { encoding: 'utf8' }).trim()),
  };
}

function ownedDir(path: string, ids: { uid: number; gid: number }): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chownSync(path, ids.uid, ids.gid);
}

export async function startDovecot(o: DovecotOptions): Promise<Dovecot> {
  const port = o.port ?? 143;
  // Plain IMAP with plain-text logins: loopback only, never another address.
  if (!isLoopback(o.address)) throw new Error(`the lab's IMAP server listens on loopback only, not ${o.address}`);
  for (const user of o.users) if (!USER.test(user)) throw new Error(`IMAP user "${user}" must be a lower-case mailbox name`);
  const ids = labIds();
  const mailRoot = join(o.dir, 'imap');
  const keys = join(o.dir, 'keys');
  const runDir = join(o.dir, 'run');
  for (const d of [mailRoot, keys, runDir]) mkdirSync(d, { recursive: true });
  const passFile = (user: string) => join(keys, `imap-${user}.pass`);
  const passwd: string[] = [];
  for (const user of o.users) {
    if (!existsSync(passFile(user))) writeFileSync(passFile(user), `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
    passwd.push(`${user}:{PLAIN}${readFileSync(passFile(user), 'utf8').trim()}`);
    const home = join(mailRoot, user);
    ownedDir(home, ids);
    for (const sub of ['', 'tmp', 'new', 'cur']) ownedDir(join(home, 'Maildir', sub), ids);
  }
  // Sockets go to the lab's runtime folder: short paths (sun_path is 108 bytes) that dovenull's login processes reach.
  const baseDir = join(labRuntimeDir(o.dir), 'dovecot');
  mkdirSync(baseDir, { recursive: true, mode: 0o755 });
  const dovecotDir = join(o.dir, 'dovecot');
  mkdirSync(join(dovecotDir, 'state'), { recursive: true });
  const passwdFile = join(dovecotDir, 'passwd');
  writeFileSync(passwdFile, `${passwd.join('\n')}\n`, { mode: 0o600 });
  const config = join(dovecotDir, 'dovecot.conf');
  writeFileSync(config, [
    '# runbook-lab: the request mailbox (lab/dovecot.ts); nothing of /etc/dovecot is read',
    'protocols = imap',
    `listen = ${o.address}`,
    `base_dir = ${baseDir}`,
    `state_dir = ${join(dovecotDir, 'state')}`,
    `instance_name = runbook-lab-${baseDir.split('/').at(-2)}`,
    'log_path = /dev/stderr',
    // Plain IMAP and plain-text logins: loopback only, like the lab's SMTP sink.
    'ssl = no',
    'disable_plaintext_auth = no',
    'auth_mechanisms = plain login',
    'mail_location = maildir:~/Maildir',
    `mail_chroot = ${mailRoot}`,
    `valid_chroot_dirs = ${mailRoot}`,
    'passdb {', '  driver = passwd-file', `  args = scheme=PLAIN ${passwdFile}`, '}',
    'userdb {', '  driver = static', `  args = uid=${ids.uid} gid=${ids.gid} home=/%u`, '}',
    // The lab folder may be root's only: the auth process reads the password file as root.
    'service auth {', '  user = root', '}',
    'service anvil {', '  chroot =', '}',
    'service imap-login {', '  chroot =', `  inet_listener imap {`, `    address = ${o.address}`, `    port = ${port}`, '  }',
    '  inet_listener imaps {', '    port = 0', '  }', '}',
    '',
  ].join('\n'));
  const pidFile = join(runDir, 'dovecot.pid');
  killRecorded(pidFile, 'dovecot');
  // Its master.pid holds its pid inside its PID namespace, alive here: left over, Dovecot would refuse to start.
  rmSync(join(baseDir, 'master.pid'), { force: true });
  const child: ChildProcess = spawnTetheredDaemon('/usr/sbin/dovecot', ['-F', '-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => { stderr = (stderr + c).slice(-4000); });
  child.on('error', (e) => { stderr += String(e); });
  if (child.pid) writeFileSync(pidFile, `${child.pid}\n`);
  await waitForPort('dovecot', o.address, port, child, 10_000, () => stderr);

  let seq = 0;
  return {
    host: o.address,
    port,
    passFile,
    deliver(user, raw) {
      if (!o.users.includes(user)) throw new Error(`no IMAP user ${user} in the lab`);
      const maildir = join(mailRoot, user, 'Maildir');
      seq += 1;
      const name = `${Date.now()}.P${process.pid}Q${seq}R${randomBytes(4).toString('hex')}.${hostname()}`;
      const tmp = join(maildir, 'tmp', name);
      writeFileSync(tmp, raw, { mode: 0o600 });
      chownSync(tmp, ids.uid, ids.gid);
      renameSync(tmp, join(maildir, 'new', name));
      return join(maildir, 'new', name);
    },
    stop: () => stopDaemon(child, pidFile),
  };
}
