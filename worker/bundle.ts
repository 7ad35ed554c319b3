/**
 * The workflow bundle, built once per version of the code and kept beside it (dist/.workflow-bundles/), instead of
 * at every worker start: webpack costs 2–3 s of CPU (more inside the worker's bounded heap, worker/process.ts), which
 * a worker restarted after a crash, or by npm start's supervisor, would pay again before it takes back its runbooks.
 *
 * The key is the content, not a date: every file of dist/ (our compiled code, which `tsc` alone may have changed
 * without `npm run build`), the lock file and the SDK's version (the packages bundled with it), and the bundle's own
 * inputs. Inputs outside dist/ (a test's fixture workflows) are bundled every time, never cached.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, sep } from 'node:path';
import { bundleWorkflowCode, type Logger } from '@temporalio/worker';

export interface BundleInputs {
  workflowsPath: string;
  workflowInterceptorModules?: string[];
  payloadConverterPath?: string;
  failureConverterPath?: string;
}

export type WorkflowBundle = { codePath: string } | { code: string };

const CACHE = '.workflow-bundles';
/** Bundles kept: the worker's, the benchmark's, a test's fault-injecting one…; the oldest beyond go. */
const KEEP = 8;

/** The cached bundle for these inputs, built now if there is none. */
export async function workflowBundle(inputs: BundleInputs, logger?: Logger): Promise<WorkflowBundle> {
  const paths = [inputs.workflowsPath, ...(inputs.workflowInterceptorModules ?? []), inputs.payloadConverterPath, inputs.failureConverterPath];
  const build = async () => (await bundleWorkflowCode({ ...inputs, ...(logger ? { logger } : {}) })).code;
  const dist = distOf(inputs.workflowsPath);
  if (!dist || !paths.every((p) => p === undefined || isInside(dist, p))) return { code: await build() };

  const dir = join(dist, CACHE);
  const codePath = join(dir, `${key(dist, inputs)}.js`);
  try {
    const now = new Date();
    utimesSync(codePath, now, now); // there, and now recently used: kept by prune()
    logger?.info(`Workflow bundle reused: ${relative(dist, codePath)}`);
    return { codePath };
  } catch {
    // none yet (or pruned by a worker starting beside this one): built below
  }
  const code = await build();
  try {
    mkdirSync(dir, { recursive: true });
    // Written whole, then renamed: a worker starting beside this one reads the old name or the full file.
    const partial = `${codePath}.${process.pid}.partial`;
    writeFileSync(partial, code);
    renameSync(partial, codePath);
    prune(dir);
    return { codePath };
  } catch {
    return { code }; // a read-only install: this worker keeps its bundle in memory
  }
}

/** The build folder (named dist) holding the workflows, if they are built ones. */
function distOf(path: string): string | undefined {
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) if (basename(dir) === 'dist') return dir;
  return undefined;
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) && !rel.split(sep).includes(CACHE);
}

function key(dist: string, inputs: BundleInputs): string {
  const hash = createHash('sha256');
  const require = createRequire(import.meta.url);
  // An input given as undefined is one not given: the same bundle, the same key.
  const given = Object.entries(inputs).filter(([, v]) => v !== undefined) as [string, string | string[]][];
  hash.update(JSON.stringify({ inputs: given.map(([k, v]) => [k, Array.isArray(v) ? v.map((p) => relative(dist, p)) : relative(dist, v)]) }));
  hash.update(`sdk ${(require('@temporalio/worker/package.json') as { version: string }).version}\n`);
  const lock = join(dist, '..', 'package-lock.json');
  if (existsSync(lock)) hash.update(readFileSync(lock));
  for (const file of filesUnder(dist)) hash.update(`${relative(dist, file)}\n`).update(readFileSync(file));
  return hash.digest('hex').slice(0, 32);
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name === CACHE) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

function prune(dir: string): void {
  const bundles = readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => ({ path: join(dir, f), mtime: statSync(join(dir, f)).mtimeMs }));
  for (const old of bundles.sort((a, b) => b.mtime - a.mtime).slice(KEEP)) rmSync(old.path, { force: true });
}
