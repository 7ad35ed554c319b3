/**
 * The workflow bundle is built once per version of the code (worker/bundle.ts): a restarted worker reuses it, and
 * any change to the built code (a `tsc` without `npm run build` included) gets a bundle of its own, never the old one.
 * On a folder of its own shaped like dist/ (the real one is shared with the lanes running beside this file).
 */
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../worker/bundle.js';
import { tempDir } from './helpers/runbooks.js';

const nodeModules = join(import.meta.dirname, '..', 'node_modules');
/** A folder of its own, where the SDK's packages resolve as they do in the project. */
function scratch(prefix: string): string {
  const dir = tempDir(prefix);
  symlinkSync(nodeModules, join(dir, 'node_modules'));
  return dir;
}

const codeOf = (bundle: Awaited<ReturnType<typeof workflowBundle>>): string =>
  'codePath' in bundle ? readFileSync(bundle.codePath, 'utf8') : bundle.code;

describe('the workflow bundle', () => {
  const dist = join(scratch('bundle'), 'dist');
  mkdirSync(join(dist, 'workflows'), { recursive: true });
  const workflowsPath = join(dist, 'workflows', 'index.js');
  const write = (greeting: string) => writeFileSync(workflowsPath, `export async function greet() { return ${JSON.stringify(greeting)}; }\n`);

  it('is built once for the same code, reused after, and built again when the code changes', async () => {
    write('first version');
    const first = await workflowBundle({ workflowsPath });
    expect(first).toHaveProperty('codePath');
    const { codePath } = first as { codePath: string };
    expect(codePath.startsWith(join(dist, '.workflow-bundles'))).toBe(true);
    expect(codeOf(first)).toContain('first version');

    const builtAt = statSync(codePath).mtimeMs;
    const again = await workflowBundle({ workflowsPath });
    expect(again).toEqual(first);
    expect(statSync(codePath).mtimeMs).toBeGreaterThanOrEqual(builtAt); // used now: the last the pruning drops

    write('second version');
    const changed = await workflowBundle({ workflowsPath });
    expect(changed).not.toEqual(first);
    expect(codeOf(changed)).toContain('second version');
    expect(codeOf(changed)).not.toContain('first version');
  }, 60_000);

  it('is not cached for workflows outside a build folder (a test\'s fixtures)', async () => {
    const elsewhere = join(scratch('bundle-fixture'), 'workflows.js');
    writeFileSync(elsewhere, 'export async function greet() { return "fixture"; }\n');
    const bundle = await workflowBundle({ workflowsPath: elsewhere });
    expect(bundle).toHaveProperty('code');
    expect(codeOf(bundle)).toContain('fixture');
  }, 60_000);
});
