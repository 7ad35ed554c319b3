/**
 * `xl list` (and `xl claims`, same rows plus a Claimed column), as xl prints them (tools/xl/xl_info.c):
 *
 *     Name                                        ID   Mem VCPUs	State	Time(s)
 *     Domain-0                                     0  4096     4     r-----     187.3
 *     (null)                                       7     0     1     --psc-       3.2
 *
 * The six State letters are r b p s, then the shutdown reason (- poweroff or not shut down, r reboot, s suspend,
 * c crash, w watchdog, S soft reset, ? unknown), then d for dying; xl(1) lists them as "r b p s c d".
 * A domain whose name xl cannot look up (one being torn down) is printed as `(null)`.
 */
import { ParseError } from './mdstat.js';

export type XlShutdownReason = 'poweroff' | 'reboot' | 'suspend' | 'crash' | 'watchdog' | 'soft_reset' | 'unknown';

export interface XlDomain {
  /** As printed; `(null)` when xl could not read it (see nameUnknown). */
  name: string;
  id: number;
  memMiB: number;
  vcpus: number;
  /** The six state letters as printed, e.g. '-b----'. */
  state: string;
  running: boolean;
  blocked: boolean;
  paused: boolean;
  /** Shut down, not yet destroyed. */
  shutdown: boolean;
  dying: boolean;
  /** Shut down because it crashed (reason letter c). */
  crashed: boolean;
  cpuSeconds: number;
  /** Why it shut down; only for a domain that did. */
  shutdownReason?: XlShutdownReason;
  /** xl printed `(null)`: the domain (usually dying) has no name any more, so it is none of ours by name. */
  nameUnknown?: true;
}

const REASONS: Record<string, XlShutdownReason> = {
  '-': 'poweroff', r: 'reboot', s: 'suspend', c: 'crash', w: 'watchdog', S: 'soft_reset', '?': 'unknown',
};

const HEADER = /^Name\s+ID\s+Mem\s+VCPUs\s+State\s+Time\(s\)/;
// Name is `%-40s`: it may be longer than 40 characters, so the row is read from its fixed columns on the right.
// Anything after Time(s) is an extra column (Claimed, with xl claims).
const ROW = /^(\S.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+([-r][-b][-p][-s][-rscwS?][-d])\s+(\d+(?:\.\d+)?)(?:\s+\S.*)?$/;

export function parseXlList(text: string): XlDomain[] {
  const lines = text.split('\n').filter((l) => l.trim());
  if (!lines[0] || !HEADER.test(lines[0])) {
    throw new ParseError('xl list: no "Name ID Mem VCPUs State Time(s)" header');
  }
  return lines.slice(1).map((line) => {
    const m = ROW.exec(line.trim());
    if (!m?.[1] || !m[5]) throw new ParseError(`xl list: cannot read line "${line.trim()}"`);
    const s = m[5];
    const domain: XlDomain = {
      name: m[1], id: Number(m[2]), memMiB: Number(m[3]), vcpus: Number(m[4]), state: s,
      running: s[0] === 'r', blocked: s[1] === 'b', paused: s[2] === 'p', shutdown: s[3] === 's', dying: s[5] === 'd',
      crashed: s[3] === 's' && s[4] === 'c',
      cpuSeconds: Number(m[6]),
    };
    if (domain.shutdown) domain.shutdownReason = REASONS[s[4]!] ?? 'unknown';
    if (domain.name === '(null)') domain.nameUnknown = true;
    return domain;
  });
}
