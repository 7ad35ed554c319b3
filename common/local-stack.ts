/**
 * What `npm start` tells the clients beside it: where its dev server listens. Our CLI, run in the project folder,
 * reads it when no Temporal address is configured, so `RUNBOOK_TEMPORAL_PORT=7300 npm start` needs nothing more
 * in the next terminal. Written in the data folder next to the codec key the CLI finds the same way.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const LocalStack = z.object({ temporalAddress: z.string().regex(/^127\.\d+\.\d+\.\d+:\d{1,5}$/) });
export type LocalStack = z.infer<typeof LocalStack>;

const fileIn = (dataDir: string) => join(dataDir, 'stack.json');

export function writeLocalStack(dataDir: string, stack: LocalStack): void {
  writeFileSync(fileIn(dataDir), `${JSON.stringify(stack)}\n`, { mode: 0o644 });
}

/** The local stack's address, or undefined when `npm start` never ran here (or the file is not ours). */
export function readLocalStack(dataDir: string): LocalStack | undefined {
  let text: string;
  try {
    text = readFileSync(fileIn(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = LocalStack.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The local stack's key file (`npm start` writes <data dir>/codec.key), for a client given no key of its own. */
export function localCodecKeyFile(dataDir: string): string | undefined {
  const file = join(dataDir, 'codec.key');
  return existsSync(file) ? file : undefined;
}
