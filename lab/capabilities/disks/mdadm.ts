/** mdadm and /proc/mdstat over the disks model, as mdadm 4.x prints them (test/fixtures/outputs/). */
import { fail, ok, type CommandResult } from '../../core/types.js';
import {
  activeCount, arrayBytes, diskOf, findPartition, isRebuilding, letterIndex, memberDev, progress, promoteSpares, SECTOR, stopRebuild, touch,
  type MdArray, type Member, type WithDisks,
} from './model.js';

const PERSONALITIES = 'Personalities : [raid1] [linear] [multipath] [raid0] [raid6] [raid5] [raid4] [raid10] ';
const MD_DATA_OFFSET = 17825792; // bytes a member partition loses to the superblock and data offset

function ctime(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getDay()]} ${months[d.getMonth()]} ${String(d.getDate()).padStart(2)} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

export function renderMdstat(state: WithDisks, now: number): string {
  let out = `${PERSONALITIES}\n`;
  const arrays = [...state.arrays].sort((x, y) => Number(y.name.slice(2)) - Number(x.name.slice(2)));
  for (const a of arrays) {
    const members = [...a.members].sort((x, y) => y.number - x.number);
    const devs = members.map((m) => `${memberDev(state, m)}[${m.number}]${m.state === 'faulty' ? '(F)' : ''}`).join(' ');
    const flags = Array.from({ length: a.raidDevices }, (_, i) =>
      a.members.some((m) => m.raidDevice === i && m.state === 'active') ? 'U' : '_').join('');
    const up = flags.split('').filter((c) => c === 'U').length;
    out += `${a.name} : active raid1 ${devs}\n`;
    out += `      ${a.blocks} blocks super 1.2 [${a.raidDevices}/${up}] [${flags}]\n`;
    const rebuilding = a.members.find(isRebuilding);
    if (rebuilding) {
      const p = progress(state, a, rebuilding, now);
      if (p === 'delayed') out += '        resync=DELAYED\n';
      else {
        const x = Math.floor(p.permille / 50);
        const bar = `[${'='.repeat(x)}>${'.'.repeat(20 - x)}]`;
        const finish = `${Math.floor(p.remainingSec / 60)}.${Math.floor((p.remainingSec % 60) / 6)}min`;
        const speed = Math.round(state.resyncBytesPerSecond / 1024);
        out += `      ${bar}  recovery = ${Math.floor(p.permille / 10)}.${p.permille % 10}% (${p.doneBlocks}/${a.blocks}) finish=${finish} speed=${speed}K/sec\n`;
      }
    }
    if (a.bitmap) {
      const degraded = up < a.raidDevices;
      out += `      bitmap: ${degraded ? '3' : '0'}/59 pages [${degraded ? '12' : '0'}KB], 65536KB chunk\n\n`;
    } else out += '      \n';
  }
  return `${out}unused devices: <none>\n`;
}

function humanMd(kib: number): string {
  const bytes = kib * 1024;
  const two = (n: number) => n.toFixed(2);
  if (bytes < 2 ** 31) return `${two(bytes / 2 ** 20)} MiB ${two(bytes / 1e6)} MB`;
  if (bytes < 2 ** 40) return `${two(bytes / 2 ** 30)} GiB ${two(bytes / 1e9)} GB`;
  return `${two(bytes / 2 ** 40)} TiB ${two(bytes / 1e12)} TB`;
}

function deviceRow(state: WithDisks, m: Member | null, slot: number | null, label: string): string {
  if (!m) return `${'-'.padStart(8)}${'0'.padStart(8)}${'0'.padStart(9)}${String(slot).padStart(9)}      removed`;
  const disk = diskOf(state, m.serial);
  const minor = disk?.kname ? letterIndex(disk.kname) * 16 + m.partition : 0;
  const rd = m.raidDevice === null || m.state === 'faulty' ? '-' : String(m.raidDevice);
  return `${String(m.number).padStart(8)}${'8'.padStart(8)}${String(minor).padStart(9)}${rd.padStart(9)}      ${label}   /dev/${memberDev(state, m)}`;
}

function renderDetail(state: WithDisks, a: MdArray, now: number): string {
  const line = (k: string, v: string | number) => `${k.padStart(18)} : ${v}\n`;
  const active = activeCount(a);
  const faulty = a.members.filter((m) => m.state === 'faulty').length;
  const spares = a.members.filter((m) => m.state === 'spare').length;
  const rebuilding = a.members.find(isRebuilding);
  const p = rebuilding ? progress(state, a, rebuilding, now) : undefined;
  let st = 'clean';
  if (active < a.raidDevices) st += ', degraded';
  if (p === 'delayed') st += ', resyncing (DELAYED)';
  else if (p) st += ', recovering';
  let out = `/dev/${a.name}:\n`;
  out += line('Version', '1.2');
  out += line('Creation Time', a.creationTime);
  out += line('Raid Level', 'raid1');
  out += line('Array Size', `${a.blocks} (${humanMd(a.blocks)})`);
  out += line('Used Dev Size', `${a.blocks} (${humanMd(a.blocks)})`);
  out += line('Raid Devices', a.raidDevices);
  out += line('Total Devices', a.members.length);
  out += line('Persistence', 'Superblock is persistent');
  out += '\n';
  if (a.bitmap) out += `${line('Intent Bitmap', 'Internal')}\n`;
  out += line('Update Time', ctime(a.updateTime));
  out += line('State', `${st} `);
  out += line('Active Devices', active);
  out += line('Working Devices', a.members.length - faulty);
  out += line('Failed Devices', faulty);
  out += line('Spare Devices', spares);
  out += '\n';
  out += line('Consistency Policy', a.bitmap ? 'bitmap' : 'resync');
  out += '\n';
  if (p && p !== 'delayed') out += `${line('Rebuild Status', `${Math.floor(p.permille / 10)}% complete`)}\n`;
  out += line('Name', `${state.name}:${a.name.slice(2)}  (local to host ${state.name})`);
  out += line('UUID', a.uuid);
  out += line('Events', a.events);
  out += '\n';
  out += '    Number   Major   Minor   RaidDevice State\n';
  for (let slot = 0; slot < a.raidDevices; slot++) {
    const m = a.members.find((x) => x.raidDevice === slot && x.state !== 'faulty');
    out += `${deviceRow(state, m ?? null, slot, m ? (m.state === 'active' ? 'active sync' : 'spare rebuilding') : '')}\n`;
  }
  const others = a.members.filter((m) => m.state === 'faulty' || (m.state === 'spare' && m.raidDevice === null));
  if (others.length) {
    out += '\n';
    for (const m of others) out += `${deviceRow(state, m, null, m.state === 'faulty' ? 'faulty' : 'spare')}\n`;
  }
  return out;
}

export function cmdMdadm(state: WithDisks, args: string[], now: number): CommandResult {
  if (args[0] === '--detail' || args[0] === '-D') {
    const dev = args[1];
    if (!dev || args.length > 2) return fail(2, 'mdadm: --detail needs exactly one md device in the lab\n');
    const a = state.arrays.find((x) => `/dev/${x.name}` === dev);
    if (!a) return fail(1, `mdadm: cannot open ${dev}: No such file or directory\n`);
    return ok(renderDetail(state, a, now));
  }
  let rest = args;
  if (rest[0] === '--manage') rest = rest.slice(1);
  const mdPath = rest[0];
  if (!mdPath || !/^\/dev\/md\d+$/.test(mdPath)) return fail(2, 'mdadm: an md device must be given in --manage mode\n');
  const a = state.arrays.find((x) => `/dev/${x.name}` === mdPath);
  if (!a) return fail(1, `mdadm: error opening ${mdPath}: No such file or directory\n`);
  let op: 'fail' | 'remove' | 'add' | null = null;
  let stderr = '';
  const ops: Record<string, 'fail' | 'remove' | 'add'> = { '--fail': 'fail', '-f': 'fail', '--remove': 'remove', '-r': 'remove', '--add': 'add', '-a': 'add' };
  if (rest.length < 2) return fail(2, `mdadm: no devices given for ${mdPath}\n`);
  for (const word of rest.slice(1)) {
    if (word in ops) { op = ops[word]!; continue; }
    if (word.startsWith('-')) return fail(2, `mdadm: unrecognised option ${word}\n`);
    if (!op) return fail(2, `mdadm: ${word} given without an operation (--fail, --remove, --add)\n`);
    const found = findPartition(state, word);
    if (!found) return fail(1, `${stderr}mdadm: Cannot find ${word}: No such file or directory\n`);
    const member = a.members.find((m) => m.serial === found.disk.serial && m.partition === found.part.number);
    if (op === 'fail') {
      if (!member) return fail(1, `${stderr}mdadm: set device faulty failed for ${word}: No such device\n`);
      if (member.state === 'active' && activeCount(a) === 1) return fail(1, `${stderr}mdadm: set device faulty failed for ${word}: Device or resource busy\n`);
      if (member.state !== 'faulty') {
        stopRebuild(state, member, now);
        member.state = 'faulty';
        member.raidDevice = null;
        touch(a, now);
      }
      stderr += `mdadm: set ${word} faulty in ${mdPath}\n`;
    } else if (op === 'remove') {
      if (!member) return fail(1, `${stderr}mdadm: hot remove failed for ${word}: No such device or address\n`);
      if (member.state === 'active' || isRebuilding(member)) return fail(1, `${stderr}mdadm: hot remove failed for ${word}: Device or resource busy\n`);
      a.members = a.members.filter((m) => m !== member);
      touch(a, now);
      stderr += `mdadm: hot removed ${word} from ${mdPath}\n`;
    } else {
      const busy = state.arrays.some((x) => x.members.some((m) => m.serial === found.disk.serial && m.partition === found.part.number));
      if (busy) return fail(1, `${stderr}mdadm: Cannot open ${word}: Device or resource busy\n`);
      if (found.part.size * SECTOR < arrayBytes(a) + MD_DATA_OFFSET) return fail(1, `${stderr}mdadm: ${word} not large enough to join array\n`);
      const number = Math.max(a.raidDevices - 1, ...a.members.map((m) => m.number)) + 1;
      a.members.push({ serial: found.disk.serial, partition: found.part.number, number, raidDevice: null, state: 'spare' });
      found.part.fstype = 'linux_raid_member';
      touch(a, now);
      promoteSpares(state, a, now);
      stderr += `mdadm: added ${word}\n`;
    }
  }
  return ok('', stderr);
}
