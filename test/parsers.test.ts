import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLsblk } from '../activities/parsers/lsblk.js';
import { parseMdadmDetail } from '../activities/parsers/mdadm-detail.js';
import { parseMdstat, ParseError } from '../activities/parsers/mdstat.js';
import { grubInstallSucceeded, parseMdadmManage, parseSfdiskWrite } from '../activities/parsers/messages.js';
import { isNoPartitionTable, parseSfdiskDump, renderSfdiskScript, sameLayout } from '../activities/parsers/sfdisk.js';
import { parseBlkid, parseCrypttab, parseDmsetupCrypt, parseLvsActive } from '../activities/parsers/luks.js';
import {
  parseClusterResources, parseDfAvail, parseGuestConfig, parsePvecmNodes, parsePvecmStatus, parsePvesmStatus, parseStorageList,
} from '../activities/parsers/proxmox.js';
import { parseXlList } from '../activities/parsers/xl.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', 'outputs', name), 'utf8');

describe('parseMdstat', () => {
  it('reads the page\'s own example: md0 with one member missing', () => {
    const { arrays, personalities } = parseMdstat(fixture('mdstat-missing.txt'));
    expect(personalities).toEqual(['raid1']);
    expect(arrays).toEqual([
      {
        name: 'md0', state: 'active', level: 'raid1', blocks: 7813892096,
        members: [{ device: 'sdb2', role: 0, faulty: false }],
        raidDisks: 2, activeDisks: 1, health: 'U_',
      },
    ]);
  });

  it('reads a faulty member', () => {
    const { arrays } = parseMdstat(fixture('mdstat-faulty.txt'));
    expect(arrays.map((a) => a.name)).toEqual(['md1', 'md0']);
    const [md1, md0] = arrays;
    expect(md1?.members).toEqual([
      { device: 'sdb3', role: 1, faulty: false },
      { device: 'sda3', role: 0, faulty: true },
    ]);
    expect(md1).toMatchObject({ raidDisks: 2, activeDisks: 1, health: '_U', blocks: 7792962560 });
    expect(md1?.recovery).toBeUndefined();
    expect(md0).toMatchObject({ health: 'UU', raidDisks: 2, activeDisks: 2 });
    expect(md0?.members.every((m) => !m.faulty)).toBe(true);
  });

  it('reads a recovery in progress and a delayed resync', () => {
    const { arrays } = parseMdstat(fixture('mdstat-recovery.txt'));
    const md1 = arrays.find((a) => a.name === 'md1');
    const md0 = arrays.find((a) => a.name === 'md0');
    expect(md1?.recovery).toEqual({ kind: 'resync', delayed: true });
    expect(md0?.recovery).toEqual({
      kind: 'recovery', percent: 22.4, doneBlocks: 4694784, totalBlocks: 20954112, finishMinutes: 1.3, speedKps: 203574,
    });
    expect(md0?.members).toEqual([
      { device: 'sdc2', role: 2, faulty: false },
      { device: 'sdb2', role: 1, faulty: false },
    ]);
    expect(md0?.health).toBe('_U');
  });

  it('reads spares, inactive arrays and check progress', () => {
    const text = [
      'Personalities : [raid1] [raid0]',
      'md2 : active raid1 sdd1[2](S) sdc1[1] sdb1[0]',
      '      1046528 blocks super 1.2 [2/2] [UU]',
      '      [=>...................]  check =  7.5% (79104/1046528) finish=0.2min speed=79104K/sec',
      '',
      'md127 : inactive sde1[0](S)',
      '      1046528 blocks super 1.2',
      '',
      'unused devices: <none>',
    ].join('\n');
    const { arrays } = parseMdstat(text);
    expect(arrays[0]?.members[0]).toEqual({ device: 'sdd1', role: 2, faulty: false, spare: true });
    expect(arrays[0]?.recovery).toMatchObject({ kind: 'check', percent: 7.5 });
    expect(arrays[1]).toMatchObject({ name: 'md127', state: 'inactive', raidDisks: 0, activeDisks: 0 });
    expect(arrays[1]?.level).toBeUndefined();
  });

  it('rejects a member it cannot read', () => {
    expect(() => parseMdstat('md0 : active raid1 sdb2[x]\n')).toThrow(ParseError);
  });
});

describe('parseMdadmDetail', () => {
  it('reads a degraded array with a removed slot and a faulty member', () => {
    const d = parseMdadmDetail(fixture('mdadm-detail-degraded.txt'));
    expect(d).toMatchObject({
      device: '/dev/md1', array: 'md1', name: 'dom0:1', level: 'raid1', state: ['clean', 'degraded'],
      uuid: '3c4a1f52:8e0b9d11:5a7c2e90:1d2f3b4c',
      raidDevices: 2, totalDevices: 2, activeDevices: 1, workingDevices: 1, failedDevices: 1, spareDevices: 0,
    });
    expect(d.rebuildPercent).toBeUndefined();
    expect(d.members).toEqual([
      { number: null, raidDevice: 0, state: ['removed'] },
      { number: 1, raidDevice: 1, state: ['active', 'sync'], device: '/dev/sdb3' },
      { number: 0, raidDevice: null, state: ['faulty'], device: '/dev/sda3' },
    ]);
  });

  it('reads a rebuilding array', () => {
    const d = parseMdadmDetail(fixture('mdadm-detail-recovering.txt'));
    expect(d).toMatchObject({
      array: 'md0', state: ['clean', 'degraded', 'recovering'], rebuildPercent: 22,
      activeDevices: 1, failedDevices: 0, spareDevices: 1, uuid: '9a8b7c6d:5e4f3a2b:1c0d9e8f:7a6b5c4d',
    });
    expect(d.members).toEqual([
      { number: 2, raidDevice: 0, state: ['spare', 'rebuilding'], device: '/dev/sdc2' },
      { number: 1, raidDevice: 1, state: ['active', 'sync'], device: '/dev/sdb2' },
    ]);
  });

  it('names what is missing', () => {
    expect(() => parseMdadmDetail('mdadm: cannot open /dev/md9: No such file or directory')).toThrow(/first line/);
    expect(() => parseMdadmDetail('/dev/md0:\n  Raid Level : raid1\n')).toThrow(/State/);
  });
});

describe('parseLsblk', () => {
  it('reads disks, partitions and the arrays on them', () => {
    const { disks } = parseLsblk(fixture('lsblk.json'));
    expect(disks.map((d) => [d.name, d.serial, d.model, d.sizeBytes])).toEqual([
      ['sda', 'ZA1E2B3C', 'ST8000NM0055-1RM112', 8001563222016],
      ['sdb', 'ZA1F4D5E', 'ST8000NM0055-1RM112', 8001563222016],
      ['sdc', 'ZR5G6H7J', 'ST8000NM000A-2KE101', 8001563222016],
    ]);
    expect(disks[0]?.partitions).toEqual([
      { name: 'sda1', sizeBytes: 2097152, fstype: null, arrays: [] },
      { name: 'sda2', sizeBytes: 21474836480, fstype: 'linux_raid_member', arrays: ['md0'] },
      { name: 'sda3', sizeBytes: 7980086018048, fstype: 'linux_raid_member', arrays: [] },
    ]);
    expect(disks[1]?.partitions.map((p) => p.arrays)).toEqual([[], ['md0'], ['md1']]);
    expect(disks[2]?.partitions).toEqual([]);
  });

  it('names the bad field', () => {
    const bad = JSON.parse(fixture('lsblk.json'));
    bad.blockdevices[1].children[2].size = '7.3T';
    expect(() => parseLsblk(JSON.stringify(bad))).toThrow(/lsblk\.blockdevices\[1\]\.children\[2\]\.size/);
    expect(() => parseLsblk('{"blockdevices": [{"type": "disk", "size": 1}]}')).toThrow(/blockdevices\[0\]\.name/);
    expect(() => parseLsblk('lsblk: unknown column')).toThrow(/not JSON/);
  });
});

describe('sfdisk', () => {
  const dump = parseSfdiskDump(fixture('sfdisk-dump.txt'));

  it('reads a GPT dump', () => {
    expect(dump).toMatchObject({
      label: 'gpt', labelId: '8F1D4C6E-3B2A-4E5F-9A8B-7C6D5E4F3A2B', device: '/dev/sdb', unit: 'sectors',
      firstLba: 2048, lastLba: 15628053134, sectorSize: 512,
    });
    expect(dump.partitions).toEqual([
      { device: '/dev/sdb1', number: 1, start: 2048, size: 4096, type: '21686148-6449-6E6F-744E-656564454649', uuid: '0B5C1F3A-77E2-4C1D-9F0A-3E8D2B6C4A51', name: 'biosboot' },
      { device: '/dev/sdb2', number: 2, start: 6144, size: 41943040, type: 'A19D880F-05FC-4D3B-A006-743F0F84911E', uuid: '5D2E8A4C-1B3F-4E6A-8C7D-9F0E1A2B3C4D' },
      { device: '/dev/sdb3', number: 3, start: 41949184, size: 15586103951, type: 'A19D880F-05FC-4D3B-A006-743F0F84911E', uuid: '7E9F0A1B-2C3D-4E5F-8A6B-7C8D9E0F1A2B' },
    ]);
  });

  it('renders a clone script without identities or last-lba, which parses back to the same layout', () => {
    const script = renderSfdiskScript(dump, { forDisk: '/dev/sdc' });
    expect(script).toBe(
      [
        'label: gpt',
        'unit: sectors',
        'first-lba: 2048',
        'sector-size: 512',
        '',
        '/dev/sdc1 : start=2048, size=4096, type=21686148-6449-6E6F-744E-656564454649, name="biosboot"',
        '/dev/sdc2 : start=6144, size=41943040, type=A19D880F-05FC-4D3B-A006-743F0F84911E',
        '/dev/sdc3 : start=41949184, size=15586103951, type=A19D880F-05FC-4D3B-A006-743F0F84911E',
        '',
      ].join('\n'),
    );
    expect(script).not.toMatch(/label-id|last-lba|uuid|device:|8F1D4C6E|0B5C1F3A/);
    const back = parseSfdiskDump(script);
    expect(sameLayout(back, dump)).toBe(true);
    expect(renderSfdiskScript(dump, { forDisk: '/dev/nvme1n1' })).toContain('/dev/nvme1n1p3 : start=41949184');
    expect(() => renderSfdiskScript(dump, { forDisk: '/dev/sdc; reboot' })).toThrow(/not a disk device/);
    expect(() => renderSfdiskScript(dump, { forDisk: '/dev/sdb' })).toThrow(/onto itself/);
  });

  it('compares layouts by number, start, size and type only', () => {
    const other = parseSfdiskDump(fixture('sfdisk-dump.txt').replaceAll('/dev/sdb', '/dev/sdc').replace(/uuid=[0-9A-F-]+/g, 'uuid=00000000-0000-0000-0000-000000000000'));
    expect(sameLayout(dump, other)).toBe(true);
    const shifted = parseSfdiskDump(fixture('sfdisk-dump.txt').replace('size=    41943040', 'size=    41943039'));
    expect(sameLayout(dump, shifted)).toBe(false);
    const fewer = { ...dump, partitions: dump.partitions.slice(0, 2) };
    expect(sameLayout(dump, fewer)).toBe(false);
  });

  it('reads MBR dumps with bootable flags and quoted names with commas', () => {
    const mbr = parseSfdiskDump('label: dos\nlabel-id: 0x1a2b3c4d\ndevice: /dev/sda\nunit: sectors\n\n/dev/sda1 : start=2048, size=1024000, type=fd, bootable\n');
    expect(mbr.partitions[0]).toEqual({ device: '/dev/sda1', number: 1, start: 2048, size: 1024000, type: 'fd', bootable: true });
    expect(renderSfdiskScript(mbr, { forDisk: '/dev/sdb' })).toContain('/dev/sdb1 : start=2048, size=1024000, type=fd, bootable');
    const named = parseSfdiskDump('label: gpt\nunit: sectors\n\n/dev/sdb1 : start=2048, size=4096, type=X, name="a, b"\n');
    expect(named.partitions[0]?.name).toBe('a, b');
  });

  it('recognises a blank disk', () => {
    const stderr = fixture('sfdisk-dump-blank.stderr.txt');
    expect(isNoPartitionTable(stderr)).toBe(true);
    expect(() => parseSfdiskDump('')).toThrow(/label/);
  });

  it('reads the report of a write', () => {
    const w = parseSfdiskWrite(fixture('sfdisk-write.txt'));
    expect(w).toEqual({
      label: 'gpt', diskId: '1A2B3C4D-5E6F-4A7B-8C9D-0E1F2A3B4C5D', altered: true,
      partitions: [
        { device: '/dev/sdc1', start: 2048, end: 6143, sectors: 4096, size: '2M', type: 'BIOS boot' },
        { device: '/dev/sdc2', start: 6144, end: 41949183, sectors: 41943040, size: '20G', type: 'Linux RAID' },
        { device: '/dev/sdc3', start: 41949184, end: 15628053134, sectors: 15586103951, size: '7.3T', type: 'Linux RAID' },
      ],
    });
    // it matches the layout that was asked for
    expect(w.partitions.map((p) => [p.start, p.sectors])).toEqual(parseSfdiskDump(fixture('sfdisk-dump.txt')).partitions.map((p) => [p.start, p.size]));
  });
});

describe('mdadm and grub messages', () => {
  it('reads --fail, --remove and --add confirmations', () => {
    expect(parseMdadmManage(fixture('mdadm-fail.stderr.txt'))).toEqual([{ action: 'faulty', partition: '/dev/sda3', array: '/dev/md1' }]);
    expect(parseMdadmManage(fixture('mdadm-remove.stderr.txt'))).toEqual([{ action: 'removed', partition: '/dev/sda3', array: '/dev/md1' }]);
    expect(parseMdadmManage(fixture('mdadm-add.stderr.txt'))).toEqual([{ action: 'added', partition: '/dev/sdc3' }]);
    expect(parseMdadmManage('mdadm: Cannot open /dev/sdz1: No such file or directory')).toEqual([]);
  });

  it('recognises a successful grub-install', () => {
    expect(grubInstallSucceeded(fixture('grub-install.stderr.txt'))).toBe(true);
    expect(grubInstallSucceeded('grub-install: error: cannot find EFI directory.')).toBe(false);
  });
});

/** Fixtures under upstream/ come from the tools' own sources; upstream/SOURCES.md names each one's origin. */
const upstream = (name: string) => fixture(`upstream/${name}`);

describe('parseMdstat on prometheus/procfs\' /proc/mdstat layouts', () => {
  const { personalities, arrays } = parseMdstat(upstream('mdstat-procfs.txt'));
  const md = (name: string) => arrays.find((a) => a.name === name)!;

  it('reads every array', () => {
    expect(personalities).toEqual(['linear', 'multipath', 'raid0', 'raid1', 'raid6', 'raid5', 'raid4', 'raid10']);
    expect(arrays.map((a) => a.name)).toEqual([
      'md3', 'md127', 'md0', 'md4', 'md6', 'md8', 'md201', 'md7', 'md9', 'md10', 'md11', 'md12', 'md126', 'md219', 'md00', 'md120', 'md101', 'md42',
    ]);
  });

  it('reads a degraded raid1 recovering onto a spare, a faulty member beside it', () => {
    expect(md('md6')).toMatchObject({ state: 'active', level: 'raid1', raidDisks: 2, activeDisks: 1, health: 'U_', blocks: 195310144 });
    expect(md('md6').members).toEqual([
      { device: 'sdb2', role: 2, faulty: true },
      { device: 'sdc', role: 1, faulty: false, spare: true },
      { device: 'sda2', role: 0, faulty: false },
    ]);
    expect(md('md6').recovery).toEqual({ kind: 'recovery', percent: 8.5, doneBlocks: 16775552, totalBlocks: 195310144, finishMinutes: 17, speedKps: 259783 });
  });

  it('reads resync=DELAYED and resync=PENDING (an auto-read-only array), a check and a reshape', () => {
    expect(md('md9').recovery).toEqual({ kind: 'resync', delayed: true });
    expect(md('md11')).toMatchObject({ readOnly: true, recovery: { kind: 'resync', delayed: true } });
    expect(md('md201').recovery).toMatchObject({ kind: 'check', percent: 5.7 });
    expect(md('md42')).toMatchObject({ level: 'raid5', health: 'UU_', recovery: { kind: 'reshape', percent: 56.1, finishMinutes: 1868.1, speedKps: 7640 } });
  });

  it('reads a degraded raid6 with a bitmap line, inactive and external-metadata arrays, levels without a status', () => {
    expect(md('md7')).toMatchObject({ level: 'raid6', raidDisks: 4, activeDisks: 3, health: 'U_UU' });
    expect(md('md7').recovery).toBeUndefined();
    expect(md('md4')).toMatchObject({ state: 'inactive', level: 'raid1' });
    expect(md('md219')).toMatchObject({ state: 'inactive', raidDisks: 0, activeDisks: 0, blocks: 7932 });
    expect(md('md219').level).toBeUndefined();
    expect(md('md10')).toMatchObject({ level: 'raid0', raidDisks: 2, activeDisks: 2, health: '' });
    expect(md('md120')).toMatchObject({ level: 'linear', blocks: 2095104 });
    expect(md('md101')).toMatchObject({ readOnly: true, level: 'raid0', raidDisks: 3 });
  });

  it('reads member names the kernel writes with "!" for "/" (cciss), and refuses a bad one naming the line', () => {
    const { arrays: [cciss] } = parseMdstat('md0 : active raid1 cciss!c0d1p1[1] cciss!c0d0p1[0]\n      104320 blocks [2/2] [UU]\n');
    expect(cciss?.members.map((m) => m.device)).toEqual(['cciss!c0d1p1', 'cciss!c0d0p1']);
    expect(() => parseMdstat('md127 : active raid1 sdi2[0] sdj2[X]\n')).toThrow(/mdstat: cannot read member "sdj2\[X\]" of md127/);
  });
});

describe('parseMdadmDetail on the layouts of mdadm\'s Detail.c', () => {
  it('reads an inactive array: no Raid Devices, a member table without State', () => {
    const d = parseMdadmDetail(upstream('mdadm-detail-inactive.txt'));
    expect(d).toMatchObject({ device: '/dev/md127', array: 'md127', name: 'dom0:1', level: 'raid1', state: ['inactive'], raidDevices: 0, totalDevices: 1, activeDevices: 0, workingDevices: 1, spareDevices: 1 });
    expect(d.members).toEqual([{ number: null, raidDevice: null, state: [], device: '/dev/sdb3' }]);
  });

  it('reads a delayed resync and write-mostly members', () => {
    const d = parseMdadmDetail(upstream('mdadm-detail-delayed.txt'));
    expect(d).toMatchObject({ array: 'md2', state: ['active', 'resyncing (DELAYED)'], raidDevices: 2, activeDevices: 2 });
    expect(d.resyncPercent).toBeUndefined();
    expect(d.members.map((m) => [m.device, m.state])).toEqual([['/dev/sda4', ['active', 'sync']], ['/dev/sdb4', ['active', 'sync', 'writemostly']]]);
  });
});

describe('sfdisk on util-linux\'s own test data', () => {
  it('reads a GPT dump with a quoted partition name, and clones it', () => {
    const dump = parseSfdiskDump(upstream('sfdisk-dump-gpt.txt'));
    expect(dump).toMatchObject({ label: 'gpt', labelId: '3B8559DB-33AF-43E9-BEFC-C331D829B539', device: '/dev/sdc', firstLba: 2048, lastLba: 102366, sectorSize: 512 });
    expect(dump.partitions.map((p) => [p.number, p.start, p.size, p.name])).toEqual([
      [1, 2048, 6144, undefined], [2, 8192, 6144, undefined], [3, 14336, 6144, undefined], [4, 20480, 81887, 'GPT is the best'],
    ]);
    expect(sameLayout(parseSfdiskDump(renderSfdiskScript(dump, { forDisk: '/dev/sdd' })), dump)).toBe(true);
  });

  it('reads an MBR dump with an extended partition and logical ones', () => {
    const dump = parseSfdiskDump(upstream('sfdisk-dump-dos.txt'));
    expect(dump).toMatchObject({ label: 'dos', labelId: '0x1ddc8a79', sectorSize: 512 });
    expect(dump.partitions.map((p) => [p.number, p.type, p.bootable])).toEqual([
      [1, '83', true], [2, '82', undefined], [3, '83', undefined], [4, '5', undefined], [5, '83', undefined], [6, '83', undefined],
    ]);
  });

  it('reads the dump of an old sfdisk (before util-linux 2.26): a comment, Id=, and empty slots left out', () => {
    const dump = parseSfdiskDump(upstream('sfdisk-dump-old.txt'));
    expect(dump.label).toBe('dos');
    expect(dump.partitions).toEqual([{ device: '/dev/sdc1', number: 1, start: 2048, size: 49999, type: '83', bootable: true }]);
  });

  it('refuses a partition line it cannot read, naming the tool and the line', () => {
    expect(() => parseSfdiskDump('label: gpt\n\n/dev/sdc1 : start=2048, size=6144, type=83, %%%\n')).toThrow(/sfdisk: cannot read partition line "\/dev\/sdc1 : start=2048/);
  });

  it('reads the new situation after a write, GPT and MBR (Boot and Id columns)', () => {
    const gpt = parseSfdiskWrite(upstream('sfdisk-write-gpt.txt'));
    expect(gpt).toMatchObject({ label: 'gpt', altered: true });
    expect(gpt.partitions.map((p) => [p.device, p.start, p.end, p.sectors, p.size, p.type])).toEqual([
      ['/dev/sdc1', 2048, 8191, 6144, '3M', 'Linux root (x86)'],
      ['/dev/sdc2', 8192, 14335, 6144, '3M', 'Linux filesystem'],
      ['/dev/sdc3', 14336, 20479, 6144, '3M', 'Linux filesystem'],
      ['/dev/sdc4', 20480, 102366, 81887, '40M', 'Linux filesystem'],
    ]);
    const dos = parseSfdiskWrite(upstream('sfdisk-write-dos.txt'));
    expect(dos).toMatchObject({ label: 'dos', altered: true });
    expect(dos.partitions.map((p) => [p.device, p.start, p.sectors, p.id, p.type])).toEqual([
      ['/dev/sdc1', 2048, 6144, '83', 'Linux'],
      ['/dev/sdc2', 8192, 6144, '82', 'Linux swap / Solaris'],
      ['/dev/sdc3', 14336, 6144, '83', 'Linux'],
      ['/dev/sdc4', 20480, 81920, '5', 'Extended'],
      ['/dev/sdc5', 20481, 6144, '83', 'Linux'],
      ['/dev/sdc6', 26626, 75774, '83', 'Linux'],
    ]);
  });
});

describe('parseLsblk on lsblk\'s own output for util-linux\'s sysfs dumps', () => {
  it('reads disks only (not loops or their LVM volumes), trims NVMe serial and model padding, and keeps a missing serial null', () => {
    const { disks } = parseLsblk(upstream('lsblk-simple-lvm.json'));
    expect(disks.map((d) => [d.name, d.serial, d.model, d.sizeBytes, d.partitions.length])).toEqual([
      ['sda', null, 'KINGSTON SH103S3', 240057409536, 6],
      ['sdb', null, 'WDC WD800JD-00MS', 80026361856, 1],
      ['nvme0n1', '50026B728203601D', 'KINGSTON SKC1000240G', 240057409536, 3],
    ]);
    expect(disks[2]?.partitions[0]).toEqual({ name: 'nvme0n1p1', sizeBytes: 8355053568, fstype: null, arrays: [] });
  });
});

describe('every parser, on every fixture cut short or with a line missing', () => {
  const dir = join(import.meta.dirname, 'fixtures', 'outputs');
  const texts = [
    ...readdirSync(dir).filter((f) => /\.(txt|json)$/.test(f)).map((f) => [f, fixture(f)] as const),
    ...readdirSync(join(dir, 'upstream')).filter((f) => f !== 'SOURCES.md').map((f) => [`upstream/${f}`, upstream(f)] as const),
  ];
  const parsers: Record<string, (text: string) => unknown> = {
    parseMdstat, parseMdadmDetail, parseLsblk, parseSfdiskDump, parseSfdiskWrite, parseMdadmManage, parsePvecmStatus, parsePvecmNodes,
    parseClusterResources, parseStorageList, parseGuestConfig, parsePvesmStatus, parseDfAvail, parseBlkid, parseCrypttab, parseDmsetupCrypt, parseLvsActive,
    parseXlList,
  };
  /** The whole text, each prefix of it by lines, each line left out, each line cut in half. */
  function* variants(text: string): Generator<string> {
    const lines = text.split('\n');
    yield text;
    for (let i = 0; i < lines.length; i++) {
      yield lines.slice(0, i).join('\n');
      yield [...lines.slice(0, i), ...lines.slice(i + 1)].join('\n');
      yield [...lines.slice(0, i), lines[i]!.slice(0, Math.floor(lines[i]!.length / 2)), ...lines.slice(i + 1)].join('\n');
    }
  }

  it('either reads it or throws a ParseError, never a TypeError or a RangeError that would fail a runbook', () => {
    const crashes: string[] = [];
    let tried = 0;
    for (const [name, parse] of Object.entries(parsers)) {
      for (const [file, text] of texts) {
        for (const variant of variants(text)) {
          tried++;
          try {
            parse(variant);
          } catch (error) {
            if (!(error instanceof ParseError)) crashes.push(`${name}(${file} variant): ${String(error)}`);
          }
        }
      }
    }
    expect(crashes.slice(0, 10)).toEqual([]);
    expect(tried).toBeGreaterThan(10_000);
  });

  it('names the source of every upstream fixture in SOURCES.md', () => {
    const sources = upstream('SOURCES.md');
    const unnamed = readdirSync(join(dir, 'upstream')).filter((f) => f !== 'SOURCES.md' && !sources.includes(f));
    expect(unnamed).toEqual([]);
  });
});
