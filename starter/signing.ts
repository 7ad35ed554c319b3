/**
 * Signing an approval with the approver's SSH key, by OpenSSH itself: `ssh-keygen -Y sign -n runbook-approval`
 * over the approval message (common/approval.ts), with a key file (`--key FILE`; a .pub file signs through the
 * ssh-agent holding its private half) or, without one, the agent's first ssh-ed25519 key.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APPROVAL_NAMESPACE } from '../common/approval.js';

function run(file: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: 60_000, maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args[0] ?? ''} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input ?? '');
  });
}

/** `ssh-keygen -Y sign` of `message` with `keyFile` (a private key, or a public key whose private half is in the agent). */
export function signWithKeyFile(keyFile: string, message: string): Promise<string> {
  return run('ssh-keygen', ['-Y', 'sign', '-n', APPROVAL_NAMESPACE, '-q', '-f', keyFile], message);
}

/** The agent's ssh-ed25519 keys, as `ssh-add -L` lists them; none without an agent. */
export async function agentKeys(): Promise<string[]> {
  if (!process.env.SSH_AUTH_SOCK) return [];
  const listed = await run('ssh-add', ['-L']).catch(() => '');
  return listed.split('\n').filter((line) => line.startsWith('ssh-ed25519 '));
}

/** Sign with the agent's first ssh-ed25519 key; undefined when there is none (the approval goes unsigned). */
export async function signWithAgent(message: string): Promise<string | undefined> {
  const [key] = await agentKeys();
  if (!key) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'runbook-approve-'));
  try {
    const pub = join(dir, 'key.pub');
    writeFileSync(pub, `${key}\n`);
    return await signWithKeyFile(pub, message);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
