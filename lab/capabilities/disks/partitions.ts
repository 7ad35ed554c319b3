/** The partitioning and boot tools over the disks model: lsblk, sfdisk, dd (reading only) and grub-install. */
import { randomUUID } from 'node:crypto';
import { disks as disksCommands } from '../../../common/commands.js';
import { fail, ok, type CommandResult, type ExecContext, type NeedStdin } from '../../core/types.js';
import { arrayBytes, BIOS_BOOT, findDisk, findPartition, LINUX_RAID, SECTOR, type Disk, type Partition, type WithDisks } from './model.js';

const TYPE_NAMES: Record<string, string> = {
  [BIOS_BOOT]: 'BIOS boot',
  [LINUX_RAID]: 'Linux RAID',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI System',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
};

/** The lsblk the disk runbook sends (common/commands.ts), the only one the lab answers. */
export const LSBLK_ARGS = disksCommands.list().text.split(' ').slice(1);

interface LsblkNode { [key: string]: string | number | null | LsblkNode[] }

function renderJson(value: LsblkNode, indent: number): string {
  const pad = ' '.repeat(indent + 3);
  const entries = Object.entries(value).map(([k, v]) => {
    if (Array.isArray(v)) {
      return `${pad}"${k}": [\n${' '.repeat(indent + 6)}${v.map((n) => renderJson(n, indent + 6)).join(',')}\n${pad}]`;
    }
    return `${pad}"${k}": ${JSON.stringify(v)}`;
  });
  return `{\n${entries.join(',\n')}\n${' '.repeat(indent)}}`;
}

export function renderLsblk(state: WithDisks): string {
  const disks = state.disks.filter((d) => d.kname).sort((x, y) => x.kname!.localeCompare(y.kname!));
  const nodes = disks.map((disk): LsblkNode => {
    const node: LsblkNode = {
      name: disk.kname, kname: disk.kname, pkname: null, type: 'disk', size: disk.sizeBytes,
      serial: disk.serial, model: disk.model, fstype: null,
    };
    const parts = disk.label?.partitions ?? [];
    if (parts.length) {
      node.children = parts.map((part): LsblkNode => {
        const name = `${disk.kname}${part.number}`;
        const p: LsblkNode = {
          name, kname: name, pkname: disk.kname, type: 'part', size: part.size * SECTOR,
          serial: null, model: null, fstype: part.fstype,
        };
        const holders = state.arrays.filter((a) => a.members.some((m) => m.serial === disk.serial && m.partition === part.number));
        if (holders.length) {
          p.children = holders.map((a): LsblkNode => ({
            name: a.name, kname: a.name, pkname: name, type: 'raid1', size: arrayBytes(a),
            serial: null, model: null, fstype: 'LVM2_member',
          }));
        }
        return p;
      });
    }
    return node;
  });
  return `${renderJson({ blockdevices: nodes }, 0)}\n`;
}

function renderDump(disk: Disk): string {
  const label = disk.label!;
  let out = 'label: gpt\n';
  out += `label-id: ${label.id}\n`;
  out += `device: /dev/${disk.kname}\n`;
  out += 'unit: sectors\n';
  out += 'first-lba: 2048\n';
  out += `last-lba: ${disk.sizeBytes / SECTOR - 34}\n`;
  out += 'sector-size: 512\n\n';
  for (const p of label.partitions) {
    out += `/dev/${disk.kname}${p.number} : start=${String(p.start).padStart(12)}, size=${String(p.size).padStart(12)}, type=${p.type}, uuid=${p.uuid}`;
    out += p.name ? `, name="${p.name}"\n` : '\n';
  }
  return out;
}

/** util-linux size_to_human_string: one or two decimals, dropped when zero. */
function humanSize(bytes: number, digits: number, spaced: boolean): string {
  const units = ['B', 'K', 'M', 'G', 'T', 'P'];
  let exp = 0;
  while (exp < units.length - 1 && bytes >= 1024 ** (exp + 1)) exp++;
  const value = bytes / 1024 ** exp;
  let text = (Math.round(value * 10 ** digits) / 10 ** digits).toFixed(digits);
  text = text.replace(/\.?0+$/, '');
  if (!spaced) return `${text}${units[exp]}`;
  return `${text} ${exp === 0 ? 'B' : `${units[exp]}iB`}`;
}


function parseScript(text: string): { header: string[]; parts: Omit<Partition, 'fstype'>[]; labelId?: string } | string {
  const header: string[] = [];
  const parts: Omit<Partition, 'fstype'>[] = [];
  let labelId: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const hm = /^([a-z-]+):\s*(.*)$/.exec(line);
    if (hm && !line.includes('=')) {
      header.push(line);
      if (hm[1] === 'label' && hm[2] !== 'gpt') return `unsupported label type ${hm[2]} (the lab only simulates GPT)`;
      if (hm[1] === 'label-id') labelId = hm[2];
      continue;
    }
    let body = line;
    let number = parts.length ? parts[parts.length - 1]!.number + 1 : 1;
    const dm = /^(\/dev\/\S+?)(\d+)\s*:\s*(.*)$/.exec(line);
    if (dm) { number = Number(dm[2]); body = dm[3]!; }
    const fields: Record<string, string> = {};
    for (const m of body.matchAll(/([a-z]+)=\s*("([^"]*)"|[^,\s]+)/g)) fields[m[1]!] = m[3] ?? m[2]!;
    const prev = parts[parts.length - 1];
    const start = fields.start !== undefined ? Number(fields.start) : prev ? prev.start + prev.size : 2048;
    const size = fields.size !== undefined ? Number(fields.size) : NaN;
    if (!Number.isFinite(start) || !Number.isFinite(size)) return `line "${line}": start and size must be given in sectors`;
    parts.push({
      number, start, size,
      type: (fields.type ?? LINUX_RAID).toUpperCase(),
      uuid: (fields.uuid ?? randomUUID()).toUpperCase(),
      ...(fields.name ? { name: fields.name } : {}),
    });
  }
  return labelId ? { header, parts, labelId } : { header, parts };
}

export function cmdSfdisk(state: WithDisks, args: string[], ctx: ExecContext): CommandResult | NeedStdin {
  if (args[0] === '--dump' || args[0] === '-d') {
    const dev = args[1];
    if (!dev || args.length > 2) return fail(1, 'sfdisk: --dump needs exactly one disk in the lab\n');
    const disk = findDisk(state, dev);
    if (!disk) return fail(1, `sfdisk: cannot open ${dev}: No such file or directory\n`);
    if (!disk.label) return fail(1, `sfdisk: ${dev}: does not contain a recognized partition table\n`);
    return ok(renderDump(disk));
  }
  if (args.length !== 1 || args[0]!.startsWith('-')) return fail(1, `sfdisk: the lab simulates only "sfdisk --dump DISK" and "sfdisk DISK" (script on stdin)\n`);
  const dev = args[0]!;
  const disk = findDisk(state, dev);
  if (!disk) return fail(1, `sfdisk: cannot open ${dev}: No such file or directory\n`);
  if (!ctx.stdin) return { needStdin: true };
  const inUse = state.arrays.some((a) => a.members.some((m) => m.serial === disk.serial));
  if (inUse) {
    return fail(1, 'sfdisk: Use the --force flag to overrule all checks.\n',
      'Checking that no-one is using this disk right now ... FAILED\n\n'
      + 'This disk is currently in use - repartitioning is probably a bad idea.\n'
      + 'Umount all file systems, and swapoff all swap partitions on this disk.\n'
      + 'Use the --no-reread flag to suppress this check.\n\n');
  }
  const script = parseScript(ctx.stdin.toString('utf8'));
  if (typeof script === 'string') return fail(1, `sfdisk: ${script}\n`);
  if (!script.parts.length) return fail(1, 'sfdisk: no partitions defined\n');
  const sectors = disk.sizeBytes / SECTOR;
  const lastLba = sectors - 34;
  let out = 'Checking that no-one is using this disk right now ... OK\n\n';
  out += `Disk ${dev}: ${humanSize(disk.sizeBytes, 2, true)}, ${disk.sizeBytes} bytes, ${sectors} sectors\n`;
  out += `Disk model: ${disk.model.slice(0, 16)}\n`;
  out += 'Units: sectors of 1 * 512 = 512 bytes\n';
  out += 'Sector size (logical/physical): 512 bytes / 4096 bytes\n';
  out += 'I/O size (minimum/optimal): 4096 bytes / 4096 bytes\n\n';
  for (const _ of script.header.filter((h) => !h.startsWith('label-id:') && !h.startsWith('device:') && !h.startsWith('unit:') && !h.startsWith('sector-size:'))) out += '>>> Script header accepted.\n';
  const labelId = (script.labelId ?? randomUUID()).toUpperCase();
  out += `>>> Created a new GPT disklabel (GUID: ${labelId}).\n`;
  for (const p of script.parts) {
    const end = p.start + p.size - 1;
    if (p.start < 2048 || end > lastLba) {
      return fail(1, `${dev}${p.number}: Failed to add #${p.number} partition: Numerical result out of range\nLeaving.\n`, out);
    }
    const typeName = TYPE_NAMES[p.type] ?? p.type;
    out += `${dev}${p.number}: Created a new partition ${p.number} of type '${typeName}' and of size ${humanSize(p.size * SECTOR, 1, true)}.\n`;
  }
  out += `${dev}${script.parts[script.parts.length - 1]!.number + 1}: Done.\n\n`;
  out += `New situation:\nDisklabel type: gpt\nDisk identifier: ${labelId}\n\n`;
  const rows = script.parts.map((p) => [`${dev}${p.number}`, String(p.start), String(p.start + p.size - 1), String(p.size), humanSize(p.size * SECTOR, 1, false), TYPE_NAMES[p.type] ?? p.type]);
  const w = (i: number, min: number) => Math.max(min, ...rows.map((r) => r[i]!.length));
  const wDev = w(0, 6) + 1; const wStart = w(1, 5); const wEnd = w(2, 3); const wSec = w(3, 7); const wSize = w(4, 5);
  out += `${'Device'.padEnd(wDev)} ${'Start'.padStart(wStart)} ${'End'.padStart(wEnd)} ${'Sectors'.padStart(wSec)} ${'Size'.padStart(wSize)} Type\n`;
  for (const r of rows) out += `${r[0]!.padEnd(wDev)} ${r[1]!.padStart(wStart)} ${r[2]!.padStart(wEnd)} ${r[3]!.padStart(wSec)} ${r[4]!.padStart(wSize)} ${r[5]}\n`;
  out += '\nThe partition table has been altered.\nCalling ioctl() to re-read partition table.\nSyncing disks.\n';
  disk.label = { id: labelId, partitions: script.parts.map((p) => ({ ...p, fstype: null })) };
  return ok(out);
}

export function cmdDd(state: WithDisks, args: string[]): CommandResult {
  const opts: Record<string, string> = {};
  for (const a of args) {
    const m = /^([a-z]+)=(.*)$/.exec(a);
    if (!m) return fail(1, `dd: unrecognized operand '${a}'\n`);
    opts[m[1]!] = m[2]!;
  }
  if (opts.of) return fail(1, 'dd: the lab does not simulate writing with dd\n');
  const path = opts.if;
  if (!path) return fail(1, 'dd: the lab does not simulate reading standard input\n');
  const bs = Number(opts.bs ?? 512);
  const count = Number(opts.count ?? 1);
  if (!Number.isInteger(bs) || !Number.isInteger(count) || bs * count > 1 << 20) return fail(1, 'dd: the lab reads at most 1 MiB: give bs= and count=\n');
  const disk = findDisk(state, path);
  if (!disk && !findPartition(state, path)) return fail(1, `dd: failed to open '${path}': No such file or directory\n`);
  const data = Buffer.alloc(bs * count);
  if (disk && disk.bootCode === 'grub') {
    data.write('\xebc\x90', 0, 'latin1');
    data.write('GRUB ', Math.min(data.length - 5, 0x180), 'latin1');
    if (data.length > 0x190) data.write('Geom\0Hard Disk\0Read\0 Error', 0x185, 'latin1');
  }
  const stderr = opts.status === 'none' ? '' : `${count}+0 records in\n${count}+0 records out\n${data.length} bytes copied, 0.000123 s, ${(data.length / 123).toFixed(1)} MB/s\n`;
  return { stdout: data, stderr, exitCode: 0 };
}

export function cmdGrubInstall(state: WithDisks, args: string[]): CommandResult {
  const devs = args.filter((a) => !a.startsWith('-'));
  if (devs.length !== 1 || devs.length !== args.length) return fail(1, 'grub-install: the lab simulates only "grub-install /dev/sdX"\n');
  const disk = findDisk(state, devs[0]!);
  if (!disk) return fail(1, `grub-install: error: failed to get canonical path of \`${devs[0]}'.\n`);
  if (!disk.label || !disk.label.partitions.some((p) => p.type === BIOS_BOOT)) {
    return fail(1, 'Installing for i386-pc platform.\n'
      + 'grub-install: warning: this GPT partition label contains no BIOS Boot Partition; embedding won\'t be possible.\n'
      + 'grub-install: error: embedding is not possible, but this is required for cross-disk install.\n');
  }
  disk.bootCode = 'grub';
  return ok('', 'Installing for i386-pc platform.\nInstallation finished. No error reported.\n');
}
