/**
 * A member at their laptop, with ssh2: connect to a lab hypervisor's members' sshd (lab/members-sshd.ts) with their
 * own key, the host key pinned, and try what `ssh -N -L PORT:localhost:PORT` does and what the jail must refuse.
 */
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { Inventory } from '../../common/inventory.js';
import { MEMBERS_SSH_PORT } from '../../lab/members-sshd.js';

export interface MemberSession {
  client: ssh2.Client;
  /** What the server sent as its banner before authentication (the Match User block's Banner). */
  banner: string;
}

/** Log in as `user` with the private key at `keyPath`; rejects when the server refuses the key. */
export function memberLogin(inventory: Inventory, host: string, user: string, keyPath: string): Promise<MemberSession> {
  const h = inventory.hosts.find((x) => x.name === host);
  if (!h) throw new Error(`no host ${host} in the lab's inventory`);
  const pinned = Buffer.from(h.hostKeys.openssh.split(/\s+/)[1]!, 'base64');
  const client = new ssh2.Client();
  let banner = '';
  return new Promise((resolve, reject) => {
    client.on('banner', (message: string) => { banner += message; });
    client.once('ready', () => resolve({ client, banner }));
    client.once('error', (error) => { client.end(); reject(error); });
    client.connect({
      host: h.address, port: MEMBERS_SSH_PORT, username: user, privateKey: readFileSync(keyPath), readyTimeout: 15_000,
      hostVerifier: (key: Buffer) => key.equals(pinned),
    });
  });
}

/** RFC 4254's reasons for a channel open failure: sshd's refusal by policy is 1, a port nobody listens on 2. */
const OPEN_FAILURES: Record<number, string> = { 1: 'administratively prohibited', 2: 'connect failed', 3: 'unknown channel type', 4: 'resource shortage' };

/** `-L`: a forward to host:port through the server; the first line the far end sends, or the refusal and its reason. */
export function forwardReads(client: ssh2.Client, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 40000, host, port, (error, stream) => {
      if (error) {
        const reason = (error as Error & { reason?: number }).reason;
        reject(new Error(`${host}:${port}: ${error.message} (${OPEN_FAILURES[reason ?? 0] ?? `reason ${reason}`})`));
        return;
      }
      let got = '';
      const timer = setTimeout(() => { stream.close(); reject(new Error(`nothing read from ${host}:${port} in 10 s`)); }, 10_000);
      stream.on('data', (c: Buffer) => { got += c.toString('utf8'); if (got.includes('\n')) { clearTimeout(timer); stream.close(); resolve(got); } });
      stream.on('close', () => { clearTimeout(timer); resolve(got); });
    });
  });
}

/** A command or a shell (with a pty when `pty`): refused, or what ran and what it printed. */
export function tryExec(client: ssh2.Client, command: string | null, pty = false): Promise<{ refused: string } | { code: number | null; output: string }> {
  return new Promise((resolve) => {
    const done = (error: Error | undefined, stream: ssh2.ClientChannel) => {
      if (error) { resolve({ refused: error.message }); return; }
      let output = '';
      stream.on('data', (c: Buffer) => { output += c.toString(); });
      stream.stderr.on('data', (c: Buffer) => { output += c.toString(); });
      stream.on('exit', (code: number | null) => stream.close());
      stream.on('close', (code: number | null) => resolve({ code: code ?? null, output }));
      stream.end();
    };
    if (command === null) client.shell(pty ? { term: 'xterm' } : false, done);
    else client.exec(command, pty ? { pty: true } : {}, done);
  });
}
