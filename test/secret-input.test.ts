/** The CLI's secret input (starter/secret-input.ts): what it sends is sealed, what it read is wiped, a bad line is never sent. */
import { describe, expect, it, vi } from 'vitest';
import { generateSealingKey, openSealed } from '../common/sealing.js';
import { readSealedSecret, type SecretSource } from '../starter/secret-input.js';

const key = generateSealingKey();

/** Hands out these lines, one per read, and keeps every Buffer it handed out. */
function scripted(lines: string[], interactive: boolean): SecretSource & { handedOut: Buffer[] } {
  const handedOut: Buffer[] = [];
  return {
    interactive,
    handedOut,
    close: () => undefined,
    async read() {
      const next = Buffer.from(lines.shift()!);
      handedOut.push(next);
      return next;
    },
  };
}

describe('secret input', () => {
  it('seals what was typed for the worker\'s key, and zeroes the plaintext it read', async () => {
    const source = scripted(['correct horse battery staple'], true);
    const sealed = await readSealedSecret(source, key, 'passphrase: ');
    expect(openSealed(sealed, [key]).toString()).toBe('correct horse battery staple');
    expect(JSON.stringify(sealed)).not.toContain('horse');
    expect(source.handedOut.every((b) => b.every((byte) => byte === 0))).toBe(true);
  });

  it('asks a person again after a line that cryptsetup would cut, without sending it', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const source = scripted(['bad\0one', 'the right one'], true);
      const sealed = await readSealedSecret(source, key, 'passphrase: ');
      expect(openSealed(sealed, [key]).toString()).toBe('the right one');
      expect(String(stderr.mock.calls[0]?.[0])).toMatch(/nothing was sent, type it again/);
      expect(stderr.mock.calls.join('')).not.toContain('bad');
      expect(source.handedOut.every((b) => b.every((byte) => byte === 0))).toBe(true);
    } finally {
      stderr.mockRestore();
    }
  });

  it('fails on such a line from a pipe, with nothing sent and the line wiped', async () => {
    const source = scripted(['bad\0one'], false);
    await expect(readSealedSecret(source, key, 'passphrase: ')).rejects.toThrow(/nothing was sent/);
    expect(source.handedOut[0]!.every((byte) => byte === 0)).toBe(true);
  });
});
