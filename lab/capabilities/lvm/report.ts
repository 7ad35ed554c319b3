/**
 * `vgs` and `lvs` as LVM's report prints them: two spaces before each row, columns aligned (numbers to the right),
 * `--noheadings`, `--units b|h` with `--nosuffix`, `--separator`, `-o` field lists, selection by VG or VG/LV.
 */
import { fail, ok, type CommandResult } from '../../core/types.js';
import { EXTENT_BYTES, findLv, freeExtents, lvBytes, snapPercent, type LogicalVolume, type LvmState, type WithLvm, isOpen } from './model.js';

/** `width`: LVM's minimum column width (its percent columns are 6 wide). */
interface Field { heading: string; numeric: boolean; width?: number }

const VG_FIELDS: Record<string, Field> = {
  vg_name: { heading: 'VG', numeric: false }, pv_count: { heading: '#PV', numeric: true }, lv_count: { heading: '#LV', numeric: true },
  snap_count: { heading: '#SN', numeric: true }, vg_attr: { heading: 'Attr', numeric: false }, vg_size: { heading: 'VSize', numeric: true },
  vg_free: { heading: 'VFree', numeric: true }, vg_extent_size: { heading: 'Ext', numeric: true }, vg_extent_count: { heading: '#Ext', numeric: true },
  vg_free_count: { heading: 'Free', numeric: true },
};
const LV_FIELDS: Record<string, Field> = {
  lv_name: { heading: 'LV', numeric: false }, vg_name: { heading: 'VG', numeric: false }, lv_attr: { heading: 'Attr', numeric: false },
  lv_size: { heading: 'LSize', numeric: true }, pool_lv: { heading: 'Pool', numeric: false }, origin: { heading: 'Origin', numeric: false },
  data_percent: { heading: 'Data%', numeric: true, width: 6 }, metadata_percent: { heading: 'Meta%', numeric: true, width: 6 }, move_pv: { heading: 'Move', numeric: false },
  mirror_log: { heading: 'Log', numeric: false }, copy_percent: { heading: 'Cpy%Sync', numeric: true }, convert_lv: { heading: 'Convert', numeric: false },
  snap_percent: { heading: 'Snap%', numeric: true, width: 6 }, lv_path: { heading: 'Path', numeric: false },
};
const VG_DEFAULT = ['vg_name', 'pv_count', 'lv_count', 'snap_count', 'vg_attr', 'vg_size', 'vg_free'];
const LV_DEFAULT = ['lv_name', 'vg_name', 'lv_attr', 'lv_size', 'pool_lv', 'origin', 'data_percent', 'metadata_percent', 'move_pv', 'mirror_log', 'copy_percent', 'convert_lv'];
const SIZE_FIELDS = new Set(['vg_size', 'vg_free', 'vg_extent_size', 'lv_size']);

interface Options { headings: boolean; units: 'b' | 'h'; suffix: boolean; separator?: string; fields: string[]; selectors: string[] }

function parseOptions(args: string[], fields: Record<string, Field>, defaults: string[], tool: string): Options | CommandResult {
  const o: Options = { headings: true, units: 'h', suffix: true, fields: defaults, selectors: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--noheadings') o.headings = false;
    else if (a === '--nosuffix') o.suffix = false;
    else if (a === '--units') {
      const u = args[++i];
      if (u !== 'b' && u !== 'h') return fail(3, `runbook-lab: ${tool}: the lab simulates --units b and h only\n`);
      o.units = u;
    } else if (a === '--separator') o.separator = args[++i] ?? '';
    else if (a === '-o' || a === '--options') {
      const list = (args[++i] ?? '').split(',');
      const unknown = list.find((f) => !fields[f]);
      if (unknown) return fail(3, `  Unrecognised field: ${unknown}\n`);
      o.fields = list;
    } else if (a.startsWith('-')) return fail(3, `runbook-lab: ${tool}: option ${a} is not simulated\n`);
    else o.selectors.push(a);
  }
  return o;
}

/** LVM's human sizes: the largest binary unit, two decimals, "<" when rounded down. */
function human(bytes: number): string {
  if (bytes === 0) return '0 ';
  const units = ['k', 'm', 'g', 't', 'p'];
  let i = 0;
  while (i < units.length - 1 && bytes >= 1024 ** (i + 2)) i++;
  const value = bytes / 1024 ** (i + 1);
  const shown = Math.floor(value * 100) / 100;
  return `${shown === value ? '' : '<'}${shown.toFixed(2)}${units[i]}`;
}

function size(bytes: number, o: Options): string {
  return o.units === 'b' ? `${bytes}${o.suffix ? 'B' : ''}` : human(bytes);
}

function render(rows: Record<string, string>[], o: Options, fields: Record<string, Field>): string {
  const cols = o.fields;
  const lines: string[][] = [...(o.headings ? [cols.map((c) => fields[c]!.heading)] : []), ...rows.map((r) => cols.map((c) => r[c] ?? ''))];
  if (o.separator !== undefined) return lines.map((l) => `  ${l.join(o.separator)}\n`).join('');
  const widths = cols.map((c, i) => Math.max(fields[c]!.width ?? 0, ...lines.map((l) => l[i]!.length)));
  return lines.map((l, li) => `  ${l.map((v, i) => (fields[cols[i]!]!.numeric && !(o.headings && li === 0) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(' ')}`.trimEnd() + '\n').join('');
}

export function vgsCommand(state: WithLvm, args: string[]): CommandResult {
  const lvm = state.lvm!;
  const o = parseOptions(args, VG_FIELDS, VG_DEFAULT, 'vgs');
  if ('exitCode' in o) return o;
  const missing = o.selectors.find((s) => !lvm.vgs.some((g) => g.name === s));
  if (missing) return fail(5, `  Volume group "${missing}" not found\n  Cannot process volume group ${missing}\n`);
  const rows = lvm.vgs.filter((g) => !o.selectors.length || o.selectors.includes(g.name)).map((g) => {
    const lvs = lvm.lvs.filter((l) => l.vg === g.name);
    const free = freeExtents(lvm, g.name);
    const values: Record<string, string> = {
      vg_name: g.name, pv_count: '1', lv_count: String(lvs.length), snap_count: String(lvs.filter((l) => l.origin).length), vg_attr: 'wz--n-',
      vg_size: String(g.extents * EXTENT_BYTES), vg_free: String(free * EXTENT_BYTES), vg_extent_size: String(EXTENT_BYTES),
      vg_extent_count: String(g.extents), vg_free_count: String(free),
    };
    for (const f of SIZE_FIELDS) if (values[f] !== undefined && f in VG_FIELDS) values[f] = size(Number(values[f]), o);
    return values;
  });
  return ok(render(rows, o, VG_FIELDS));
}

function attr(state: WithLvm, lvm: LvmState, lv: LogicalVolume): string {
  if (lv.origin) return `swi-${lv.invalid ? 'I' : 'a'}-s---`;
  const origin = lvm.lvs.some((s) => s.origin === lv.name && s.vg === lv.vg);
  return `${origin ? 'o' : '-'}wi-a${isOpen(state, lv) ? 'o' : '-'}${origin ? 's' : '-'}---`;
}

export function lvsCommand(state: WithLvm, args: string[]): CommandResult {
  const lvm = state.lvm!;
  const o = parseOptions(args, LV_FIELDS, LV_DEFAULT, 'lvs');
  if ('exitCode' in o) return o;
  let chosen = lvm.lvs;
  if (o.selectors.length) {
    chosen = [];
    for (const s of o.selectors) {
      if (s.includes('/')) {
        const lv = findLv(lvm, s);
        if (!lv) return fail(5, `  Failed to find logical volume "${s.replace(/^\/dev\//, '')}"\n`);
        chosen.push(lv);
      } else {
        if (!lvm.vgs.some((g) => g.name === s)) return fail(5, `  Volume group "${s}" not found\n  Cannot process volume group ${s}\n`);
        chosen.push(...lvm.lvs.filter((l) => l.vg === s));
      }
    }
  }
  const rows = chosen.map((lv) => ({
    lv_name: lv.name, vg_name: lv.vg, lv_attr: attr(state, lvm, lv), lv_size: size(lvBytes(lv), o), origin: lv.origin ?? '',
    data_percent: snapPercent(lv), snap_percent: snapPercent(lv), lv_path: `/dev/${lv.vg}/${lv.name}`,
  }));
  return ok(render(rows, o, LV_FIELDS));
}
