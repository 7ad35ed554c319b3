// Zod helpers shared by the inventory, runbook inputs and workflows. No I/O here: workflow code imports it.
import { z } from 'zod';

export const HostName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, { message: 'must be a host name: lower-case letters, digits, dots and dashes' });

/** Render zod issues as `field.path: message` lines, so a person can find the bad field. */
export function describeIssues(error: z.ZodError, root = ''): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
        root,
      );
      return `${path || '(input)'}: ${issue.message}`;
    })
    .join('\n');
}
