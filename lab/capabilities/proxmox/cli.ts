/** What qm and pct share: PVE's option parsing, the guest an argument names, the answer without quorum. */
import { fail, type CommandResult } from '../../core/types.js';
import type { PveGuest, PveNodeState } from './cluster.js';
import { confPath } from './render.js';

export interface Parsed { positional: string[]; flags: Map<string, string> }

/** PVE's CLI options: `--name value`, booleans as `--online` or `--online 1`. */
export function parseOptions(args: string[], valued: string[], booleans: string[], usage: string): Parsed | CommandResult {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const name = a.slice(2);
    if (valued.includes(name)) {
      const v = args[++i];
      if (v === undefined) return fail(255, `400 not enough arguments\n${usage}\n`);
      flags.set(name, v);
    } else if (booleans.includes(name)) {
      const v = args[i + 1];
      if (v === '0' || v === '1') { flags.set(name, v); i++; } else flags.set(name, '1');
    } else return fail(255, `Unknown option: ${name}\n400 unable to parse option\n${usage}\n`);
  }
  return { positional, flags };
}
export const isResult = (x: Parsed | CommandResult): x is CommandResult => 'exitCode' in x;

/** PVE's answer to parameters its schema refuses: one `name: reason` line each, then the usage. */
export function badParameters(errors: string[], usage: string): CommandResult {
  return fail(255, `400 Parameter verification failed.\n${errors.map((e) => `${e}\n`).join('')}${usage}\n`);
}

export function findGuest(state: PveNodeState, type: PveGuest['type'], id: string | undefined, usage: string): PveGuest | CommandResult {
  if (id === undefined) return fail(255, `400 not enough arguments\n${usage}\n`);
  if (!/^\d+$/.test(id)) return badParameters([`vmid: type check ('integer') failed - got '${id}'`], usage);
  const g = state.guests.find((x) => x.vmid === Number(id) && x.type === type);
  return g ?? fail(255, `Configuration file '${confPath(state, type, id)}' does not exist\n`);
}
export const isGuest = (x: PveGuest | CommandResult): x is PveGuest => 'vmid' in x;

export const NO_QUORUM = 'cluster not ready - no quorum?\n';
