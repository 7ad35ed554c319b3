/**
 * LVM's reports read with `--units b --nosuffix --noheadings` (lvm2 man/vgs.8, lvs.8): one row per line, two
 * spaces first, columns separated by spaces, sizes in bytes. The runbooks ask only for columns that are never empty.
 */
import { ParseError } from './mdstat.js';

function rows(text: string, columns: number, what: string): string[][] {
  const out = text.split('\n').filter((l) => l.trim()).map((l) => l.trim().split(/\s+/));
  for (const r of out) if (r.length !== columns) throw new ParseError(`${what}: expected ${columns} columns, got "${r.join(' ')}"`);
  return out;
}

function bytes(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new ParseError(`${what}: "${text}" is not a number of bytes`);
  return Number(text);
}

/** `vgs --units b --nosuffix --noheadings -o vg_name,vg_extent_size,vg_free VG`. */
export function parseVolumeGroup(text: string, vg: string): { vg: string; extentBytes: number; freeBytes: number } {
  const found = rows(text, 3, 'vgs').find((r) => r[0] === vg);
  if (!found) throw new ParseError(`vgs: no volume group ${vg}`);
  return { vg, extentBytes: bytes(found[1]!, 'vgs extent size'), freeBytes: bytes(found[2]!, 'vgs free') };
}

/** `lvs --units b --nosuffix --noheadings -o lv_name,lv_size VG/LV`. */
export function parseVolumeSize(text: string, lv: string): number {
  const found = rows(text, 2, 'lvs').find((r) => r[0] === lv);
  if (!found) throw new ParseError(`lvs: no logical volume ${lv}`);
  return bytes(found[1]!, 'lvs size');
}

/** `lvs --noheadings -o snap_percent VG/SNAP`: "12.34" → 12.34. */
export function parseSnapPercent(text: string): number {
  const value = text.trim();
  if (!/^\d+(\.\d+)?$/.test(value)) throw new ParseError(`lvs snap_percent: "${value}" is not a percentage`);
  return Number(value);
}

/** `findmnt --noheadings --output OPTIONS /`: the root is mounted ro or rw. */
export function parseRootMode(text: string): 'ro' | 'rw' {
  const first = text.trim().split(',')[0];
  if (first !== 'ro' && first !== 'rw') throw new ParseError(`findmnt: "${text.trim()}" does not start with ro or rw`);
  return first;
}
