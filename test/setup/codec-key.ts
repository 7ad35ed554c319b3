import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { ensureSealingKeyFiles, sealingKeyPaths, sealingKeysFromFile, type SealingKey } from '../../common/sealing.js';

/**
 * Writes the suite's payload codec key file `<dir>/codec.key` (content `k1:<base64 of 32 random bytes>`, mode 0600,
 * the format scripts/start.ts creates) and returns its path.
 *
 * One key for every file of a lane, made by the global setup: runs of different files share the lane's dev server,
 * and a lease workflow (`lease-host:dom0-kill@runbooks`) outlives the file that started it. Another file's worker
 * with a key of its own could not read its history, and the next runbook on that host would wait for ever.
 */
export function writeTestCodecKey(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'codec.key');
  writeFileSync(path, `${inject('codecKey')}\n`, { mode: 0o600 });
  return path;
}

/**
 * A new sealing key for a test's worker, in `<dir>/sealing.key` (0600: RUNBOOK_SEALING_KEY_FILE) and
 * `<dir>/sealing.pub` (what the CLI seals for), made as `npm start` makes them. Returns the key, to seal with.
 */
export function writeTestSealingKey(dir: string): SealingKey {
  mkdirSync(dir, { recursive: true });
  const { privateFile, publicFile } = sealingKeyPaths(dir);
  ensureSealingKeyFiles(privateFile, publicFile);
  return sealingKeysFromFile(privateFile)[0]!;
}
