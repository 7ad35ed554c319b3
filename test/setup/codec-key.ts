import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Writes a fresh payload codec key file `<dir>/codec.key` (content `k1:<base64 of 32 random
 * bytes>`, mode 0600, the format scripts/start.ts creates) and returns its path.
 */
export function writeTestCodecKey(dir: string, keyId = 'k1'): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'codec.key');
  writeFileSync(path, `${keyId}:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  return path;
}
