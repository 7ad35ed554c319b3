/**
 * Determinism: histories of finished runs, stored as fixtures, replay against the current workflow code.
 * A change that would break runbooks already running fails here. Record new ones with RECORD_HISTORIES=1 npx vitest run test/diskReplacement.test.ts.
 * Each history is encrypted with the lab-only key stored beside it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultPayloadConverter } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import proto from '@temporalio/proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { AesGcmCodec, parseCodecKeys } from '../common/codec.js';
import { workflowBundle, type WorkflowBundle } from '../worker/bundle.js';

const { temporal } = proto;
const dir = fileURLToPath(new URL('./fixtures/histories/', import.meta.url));
const workflowsPath = fileURLToPath(new URL('../dist/workflows/index.js', import.meta.url));
const failureConverterPath = fileURLToPath(new URL('../dist/common/failure-converter.js', import.meta.url));
/** One bundle of the current code for every history (a webpack run per history cost ~1.5 s each). */
let bundle: WorkflowBundle;
beforeAll(async () => { bundle = await workflowBundle({ workflowsPath, failureConverterPath }); });
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.history.pb'));

function load(file: string) {
  return {
    codec: new AesGcmCodec(parseCodecKeys(readFileSync(join(dir, file.replace('.history.pb', '.codec.key')), 'utf8'))),
    history: temporal.api.history.v1.History.decode(readFileSync(join(dir, file))),
  };
}

/** A summary as the UI shows it once the codec endpoint decrypts it; undefined when the event has none. */
/** An activity's scheduling: a regular one's ActivityTaskScheduled, or the marker a local one leaves. */
const isActivity = (e: proto.temporal.api.history.v1.IHistoryEvent) =>
  Boolean(e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes?.markerName === 'core_local_activity');

async function summaryOf(codec: AesGcmCodec, event: proto.temporal.api.history.v1.IHistoryEvent): Promise<string | undefined> {
  const payload = event.userMetadata?.summary;
  if (!payload) return undefined;
  const [decoded] = await codec.decode([payload]);
  return defaultPayloadConverter.fromPayload<string>(decoded!);
}

describe('stored histories replay against the current code', () => {
  it('has fixtures, rebootHost\'s included', () => {
    expect(fixtures.length).toBeGreaterThan(0);
    expect(fixtures.filter((f) => f.startsWith('rebootHost'))).toHaveLength(2);
  });
  it.each(fixtures)('%s', async (file) => {
    const { codec, history } = load(file);
    await Worker.runReplayHistory(
      { workflowBundle: bundle, dataConverter: { payloadCodecs: [codec], failureConverterPath } },
      history,
      readFileSync(join(dir, file.replace('.history.pb', '.workflow-id')), 'utf8'),
    );
  });
});

describe('the replay suite catches a changed workflow (negative control)', () => {
  it.each(fixtures.filter((f) => f.startsWith('rebootHost')))('%s does not replay against a rebootHost that skips its first step', async (file) => {
    const { codec, history } = load(file);
    await expect(Worker.runReplayHistory(
      { workflowsPath: fileURLToPath(new URL('./fixtures/changed/workflows.ts', import.meta.url)), dataConverter: { payloadCodecs: [codec] } },
      history,
    )).rejects.toThrow(/[Nn]ondetermini/);
  });
});

describe('stored histories read like the procedure in the Temporal UI', () => {
  it.each(fixtures)('%s: every activity (local ones included) and timer carries a summary', async (file) => {
    const { codec, history } = load(file);
    const events = history.events!.filter((e) => isActivity(e) || e.timerStartedEventAttributes || e.startChildWorkflowExecutionInitiatedEventAttributes);
    expect(events.length).toBeGreaterThan(0);
    expect((await Promise.all(events.map((e) => summaryOf(codec, e)))).filter((s) => !s)).toEqual([]);
  });

  it.each(fixtures.filter((f) => f.startsWith('diskReplacement')))('%s: the page\'s steps in the words a person looks for', async (file) => {
    const { codec, history } = load(file);
    const scheduled = history.events!.filter(isActivity);
    const summaries = await Promise.all(scheduled.map((e) => summaryOf(codec, e)));
    expect(scheduled.length).toBeGreaterThan(0);
    expect(summaries.filter((s) => !s)).toEqual([]);
    // The page's steps, in the words a person at the UI would look for.
    // (The cold fixture's failed disk is gone from the host: the kernel dropped its members, no --remove is due.)
    const removal = file.includes('hot') ? [/^mdadm --remove md1's partition 3 of disk /] : [];
    for (const words of [/^Dites 33 on /, ...removal, /^sfdisk: clone the partition table of /, /^mdadm --add partition 2 of \S+ to md0$/, /^grub-install on the new disk /, /is \[UU\]$/]) {
      expect(summaries.some((s) => words.test(s!)), String(words)).toBe(true);
    }
    const timers = history.events!.filter((e) => e.timerStartedEventAttributes);
    expect((await Promise.all(timers.map((e) => summaryOf(codec, e)))).filter((s) => !s)).toEqual([]);
    const children = history.events!.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
    for (const child of children) expect(await summaryOf(codec, child)).toMatch(/^Power off \S+ for a cold disk swap/);
    expect(children.length).toBe(file.includes('cold') ? 1 : 0);
  });
});
