/**
 * Determinism: histories of finished runs, stored as fixtures, replay against the current workflow code.
 * A change that would break runbooks already running fails here. Record new ones with RECORD_HISTORIES=1 npx vitest run test/diskReplacement.test.ts.
 * Each history is encrypted with the lab-only key stored beside it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import proto from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { AesGcmCodec, parseCodecKeys } from '../common/codec.js';

const { temporal } = proto;
const dir = fileURLToPath(new URL('./fixtures/histories/', import.meta.url));
const workflowsPath = fileURLToPath(new URL('../dist/workflows/index.js', import.meta.url));
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.history.pb'));

describe('stored histories replay against the current code', () => {
  it('has fixtures', () => expect(fixtures.length).toBeGreaterThan(0));
  it.each(fixtures)('%s', async (file) => {
    const key = readFileSync(join(dir, file.replace('.history.pb', '.codec.key')), 'utf8');
    await Worker.runReplayHistory(
      {
        workflowsPath,
        dataConverter: {
          payloadCodecs: [new AesGcmCodec(parseCodecKeys(key))],
          failureConverterPath: fileURLToPath(new URL('../dist/common/failure-converter.js', import.meta.url)),
        },
      },
      temporal.api.history.v1.History.decode(readFileSync(join(dir, file))),
      readFileSync(join(dir, file.replace('.history.pb', '.workflow-id')), 'utf8'),
    );
  });
});
