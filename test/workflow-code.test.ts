/**
 * Rules of workflow code that the compiler alone does not enforce:
 * - a plain Error thrown in a workflow fails the workflow *task*, which Temporal retries forever: the run hangs and
 *   nobody is told. Workflow code fails a run (and refuses an Update, `refuseUpdate`) with ApplicationFailure
 *   (common/failures.ts).
 * - a step title that is not in the runbook's list does not compile (test/types/typed-steps.ts).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Approval, Decision, DiskReplacedAnswer, InstallDoneAnswer, PassphraseAnswer } from '../common/inputs.js';
import { ANSWER_EXAMPLES, approveUpdate, decideUpdate, diskReplacedUpdate, installDoneUpdate, submitPassphraseUpdate } from '../workflows/messages.js';

const root = join(import.meta.dirname, '..');
const workflows = readdirSync(join(root, 'workflows')).filter((f) => f.endsWith('.ts'));

describe('workflow code', () => {
  it.each(workflows)('%s throws no plain Error', (file) => {
    const source = readFileSync(join(root, 'workflows', file), 'utf8');
    const plain = [...source.matchAll(/new (Type|Range|Syntax)?Error\(/g)].length;
    expect(plain, `${file}: use failure(type, message) from common/failures.ts`).toBe(0);
    expect(source).not.toMatch(/throw ['"`]/);
    expect(source).not.toMatch(/ApplicationFailure\.(nonRetryable|retryable|create)\(/); // one catalogue: failure()
  });

  it('refuses an Update with an InvalidInput, whose reason the UI shows in plain words', () => {
    const people = readFileSync(join(root, 'workflows', 'people.ts'), 'utf8');
    expect(people).toMatch(/export function refuseUpdate\(message: string\): never \{\n {2}throw failure\('InvalidInput', message\);\n\}/);
  });

  it('refuses at compile time a step title that is not in the runbook\'s list', () => {
    // Each @ts-expect-error there must be an error, or tsc fails with "Unused '@ts-expect-error' directive".
    expect(() => execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'test', 'types', 'tsconfig.json')], { stdio: 'pipe' })).not.toThrow();
  });

  it("shows for every Update an example argument its validator accepts (the passphrase aside: it must be sealed)", () => {
    const schemas = { [approveUpdate.name]: Approval, [decideUpdate.name]: Decision, [diskReplacedUpdate.name]: DiskReplacedAnswer, [installDoneUpdate.name]: InstallDoneAnswer, [submitPassphraseUpdate.name]: PassphraseAnswer.omit({ passphrase: true }) };
    expect(Object.keys(ANSWER_EXAMPLES).sort()).toEqual(Object.keys(schemas).sort());
    for (const [update, example] of Object.entries(ANSWER_EXAMPLES)) {
      const { passphrase: _sealedBySender, ...checked } = example;
      expect(schemas[update]!.safeParse(checked).success, update).toBe(true);
    }
  });
});
