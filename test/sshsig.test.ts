/** The workflow's sshsig verification against OpenSSH's own `ssh-keygen -Y sign`, and its refusals. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { APPROVAL_NAMESPACE, approvalMessage, planHash } from '../common/approval.js';
import { SshSigError, verifySshSignature } from '../common/sshsig.js';
import { signWithKeyFile } from '../starter/signing.js';
import { tempDir } from './helpers/runbooks.js';

let dir: string;
const keyFile = (name: string, type = 'ed25519') => {
  const path = join(dir, `${name}_${type}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', path]);
  return path;
};
let alice: string;
let mallory: string;
const pub = (path: string) => readFileSync(`${path}.pub`, 'utf8');

beforeAll(() => {
  dir = tempDir('sshsig');
  alice = keyFile('alice');
  mallory = keyFile('mallory');
});

describe('sshsig', () => {
  const message = approvalMessage({ workflowId: 'wf', runId: 'run', planHash: planHash({ summary: 'p', steps: [] }), by: 'alice' });

  it('verifies what ssh-keygen -Y sign made, with sha512 (its default) and sha256', async () => {
    expect(verifySshSignature(await signWithKeyFile(alice, message), pub(alice), APPROVAL_NAMESPACE, message)).toBe('ok');
    const sha256 = execFileSync('ssh-keygen', ['-Y', 'sign', '-n', APPROVAL_NAMESPACE, '-O', 'hashalg=sha256', '-q', '-f', alice], { input: message }).toString();
    expect(verifySshSignature(sha256, pub(alice), APPROVAL_NAMESPACE, message)).toBe('ok');
  });

  it('tells another message, key or namespace apart', async () => {
    const signature = await signWithKeyFile(alice, message);
    expect(verifySshSignature(signature, pub(alice), APPROVAL_NAMESPACE, message.replace('by: alice', 'by: bob'))).toBe('bad-signature');
    expect(verifySshSignature(signature, pub(mallory), APPROVAL_NAMESPACE, message)).toBe('other-key');
    const git = execFileSync('ssh-keygen', ['-Y', 'sign', '-n', 'git', '-q', '-f', alice], { input: message }).toString();
    expect(verifySshSignature(git, pub(alice), APPROVAL_NAMESPACE, message)).toBe('other-namespace');
    // A signature whose bytes were changed (its last base64 characters).
    const lines = signature.trimEnd().split('\n');
    const last = lines.length - 2;
    lines[last] = lines[last]!.replace(/.{4}$/, (s) => (s === 'AAAA' ? 'BBBB' : 'AAAA'));
    expect(verifySshSignature(`${lines.join('\n')}\n`, pub(alice), APPROVAL_NAMESPACE, message)).not.toBe('ok');
  });

  it('refuses by name what is not an ssh-ed25519 signature', () => {
    const rsa = keyFile('rsa', 'rsa');
    const signature = execFileSync('ssh-keygen', ['-Y', 'sign', '-n', APPROVAL_NAMESPACE, '-q', '-f', rsa], { input: message }).toString();
    expect(() => verifySshSignature(signature, pub(alice), APPROVAL_NAMESPACE, message)).toThrow(SshSigError);
    expect(() => verifySshSignature(signature, pub(alice), APPROVAL_NAMESPACE, message)).toThrow(/only ssh-ed25519 keys sign approvals \(this signature's key is ssh-rsa\)/);
    expect(() => verifySshSignature('-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n', pub(alice), APPROVAL_NAMESPACE, message)).toThrow(SshSigError);
  });

  it('hashes a plan by its canonical JSON: the order of its keys does not matter, its content does', () => {
    expect(planHash({ summary: 's', steps: [] })).toBe(planHash({ steps: [], summary: 's' }));
    expect(planHash({ summary: 's', steps: [] })).not.toBe(planHash({ summary: 't', steps: [] }));
    expect(planHash({ summary: 's', steps: [] })).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});
