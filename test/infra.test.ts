import { accessSync, constants } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { describe, expect, inject, it } from 'vitest';
import { temporalCliPath, testServerPath } from '../scripts/temporal-bin.js';

describe('test infrastructure', () => {
  it('the suite-wide Temporal dev server answers', async () => {
    const address = inject('temporalAddress');
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(process.env.TEMPORAL_TEST_ADDRESS).toBe(address);
    const connection = await Connection.connect({ address });
    try {
      const res = await connection.workflowService.describeNamespace({ namespace: 'default' });
      expect(res.namespaceInfo?.name).toBe('default');
    } finally {
      await connection.close();
    }
  });

  it('temporalCliPath() resolves to a working executable', () => {
    const cli = temporalCliPath();
    accessSync(cli, constants.X_OK);
    expect(execFileSync(cli, ['--version'], { encoding: 'utf8' })).toMatch(/temporal version/);
  });

  it('testServerPath() resolves to an executable', () => {
    accessSync(testServerPath(), constants.X_OK);
  });
});
