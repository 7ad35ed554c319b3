import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBlkid, parseCrypttab, parseDmsetupCrypt, parseLvsActive } from '../activities/parsers/luks.js';
import { ParseError } from '../activities/parsers/mdstat.js';
import {
  parseBootFree, parseClusterResources, parseDfAvail, parseGuestConfig, parsePvecmNodes, parsePvecmStatus, parsePvesmStatus, parseStorageList,
} from '../activities/parsers/proxmox.js';
import { parseXlList } from '../activities/parsers/xl.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', 'outputs', name), 'utf8');
const GiB = 2 ** 30;

describe('parsePvecmStatus', () => {
  it('reads the ResEl page\'s quorate cluster (the command exited 1 there)', () => {
    expect(parsePvecmStatus(fixture('pvecm-status.txt'))).toEqual({
      quorate: true, nodes: 3, nodeId: 2, expectedVotes: 3, highestExpected: 3, totalVotes: 3, quorum: 2, flags: ['Quorate'],
      members: [
        { nodeId: 1, votes: 1, name: '172.22.2.42', local: false },
        { nodeId: 2, votes: 1, name: '172.22.2.58', local: true },
        { nodeId: 4, votes: 1, name: '172.22.2.63', local: false },
      ],
    });
  });

  it('reads a node left alone: not quorate, activity blocked', () => {
    const s = parsePvecmStatus(fixture('pvecm-status-no-quorum.txt'));
    expect(s).toMatchObject({ quorate: false, nodes: 1, expectedVotes: 3, totalVotes: 1, quorum: 2, flags: [] });
    expect(s.members).toEqual([{ nodeId: 1, votes: 1, name: '10.10.10.24', local: true }]);
  });

  it('refuses an output without the Quorate line', () => {
    expect(() => parsePvecmStatus('')).toThrow(/not in a cluster|Quorate/);
    expect(() => parsePvecmStatus('Cannot initialize CMAP service\n')).toThrow(ParseError);
  });
});

describe('parsePvecmNodes', () => {
  it('reads the page\'s node list', () => {
    expect(parsePvecmNodes(fixture('pvecm-nodes.txt'))).toEqual([
      { nodeId: 1, votes: 1, name: 'nikita', local: false },
      { nodeId: 2, votes: 1, name: 'camille', local: true },
      { nodeId: 4, votes: 1, name: 'proxima', local: false },
    ]);
  });

  it('reads the Qdevice column when there is one', () => {
    const text = '\nMembership information\n----------------------\n    Nodeid      Votes    Qdevice Name\n         1          1    A,V,NMW pve1 (local)\n         0          1            Qdevice\n';
    expect(parsePvecmNodes(text)).toEqual([
      { nodeId: 1, votes: 1, name: 'pve1', local: true, qdeviceFlags: ['A', 'V', 'NMW'] },
      { nodeId: 0, votes: 1, name: 'Qdevice', local: false, qdevice: true },
    ]);
  });
});

describe('parseClusterResources', () => {
  it('reads guests, nodes and storages, an offline node and its guests included', () => {
    const r = parseClusterResources(fixture('cluster-resources.json'));
    expect(r.guests.find((g) => g.vmid === 1001)).toEqual({
      vmid: 1001, type: 'qemu', name: 'web', node: 'skumenn', status: 'running', maxmem: 2 * GiB, maxcpu: 2, mem: 1288490189, template: false,
    });
    expect(r.guests.find((g) => g.vmid === 1101)).toMatchObject({ type: 'lxc', name: 'dns1', node: 'skumenn' });
    expect(r.guests.filter((g) => g.node === 'kurun').map((g) => g.status)).toEqual(['unknown', 'unknown', 'unknown', 'unknown', 'unknown']);
    expect(r.nodes.map((n) => [n.node, n.status, n.maxmem, n.maxcpu])).toEqual([
      ['skumenn', 'online', 64 * GiB, 24], ['gueuza', 'online', 64 * GiB, 24], ['kurun', 'offline', 64 * GiB, 24],
    ]);
    expect(r.nodes[2]!.uptime).toBeUndefined();
    expect(r.storages.filter((s) => s.node === 'skumenn').map((s) => [s.storage, s.status, s.shared])).toEqual([
      ['lvm_luks_shared', 'unknown', true], ['lvm_noluks_shared', 'available', true], ['lvmthin_luks_local', 'available', false],
    ]);
  });

  it('tolerates extra fields and other resource types, and names a bad entry', () => {
    const text = JSON.stringify([
      { id: 'sdn/pve1/localnetwork', type: 'sdn', sdn: 'localnetwork', node: 'pve1', status: 'ok' },
      { id: 'qemu/100', type: 'qemu', vmid: 100, name: 'x', node: 'pve1', status: 'running', maxmem: 1, maxcpu: 1, template: 0, hastate: 'started', tags: 'a;b' },
      { id: 'node/pve2', type: 'node', node: 'pve2', status: 'offline' },
    ]);
    const r = parseClusterResources(text);
    expect(r.guests).toHaveLength(1);
    expect(r.nodes).toEqual([{ node: 'pve2', status: 'offline', maxmem: 0, maxcpu: 0 }]);
    expect(() => parseClusterResources('[{"id":"qemu/1","type":"qemu","node":"pve1"}]')).toThrow(/entry 0[\s\S]*vmid/);
    expect(() => parseClusterResources('not json')).toThrow(/not JSON/);
  });
});

describe('parseStorageList', () => {
  it('reads storage.cfg with its shared flags', () => {
    expect(parseStorageList(fixture('storage-list.json'))).toEqual([
      { storage: 'lvm_luks_shared', type: 'lvm', shared: true, vgname: 'vg_fma_luks', content: ['images', 'rootdir'] },
      { storage: 'lvm_noluks_shared', type: 'lvm', shared: true, vgname: 'vg_fma_noluks', content: ['images', 'rootdir'] },
      { storage: 'lvmthin_luks_local', type: 'lvmthin', shared: false, vgname: 'vg_local_luks', thinpool: 'data', content: ['images', 'rootdir'] },
    ]);
  });

  it('takes an absent shared flag as not shared, and node restrictions', () => {
    expect(parseStorageList('[{"storage":"local","type":"dir","content":"iso,backup","nodes":"pve1,pve2","digest":"x"}]')).toEqual([
      { storage: 'local', type: 'dir', shared: false, content: ['iso', 'backup'], nodes: ['pve1', 'pve2'] },
    ]);
  });
});

describe('parseGuestConfig', () => {
  it('reads a VM: disks and their storages, the empty cdrom left out', () => {
    const c = parseGuestConfig(fixture('qm-config.txt'));
    expect(c).toMatchObject({ name: 'REF-VM-01', memoryMiB: 1024, cores: 1, sockets: 1, onboot: true, storages: ['lvm_noluks_shared'] });
    expect(c.disks).toEqual([{ key: 'virtio0', storage: 'lvm_noluks_shared', volume: 'vm-2001-disk-0', size: '20G', sizeBytes: 20 * GiB }]);
  });

  it('reads a container: hostname and rootfs', () => {
    const c = parseGuestConfig(fixture('pct-config.txt'));
    expect(c).toMatchObject({ name: 'dns1', memoryMiB: 512, cores: 1, storages: ['lvm_luks_shared'] });
    expect(c.disks).toEqual([{ key: 'rootfs', storage: 'lvm_luks_shared', volume: 'vm-1101-disk-0', size: '8G', sizeBytes: 8 * GiB }]);
  });

  it('counts an ISO and unused disks, skips bind mounts and snapshot sections', () => {
    const c = parseGuestConfig([
      'ide2: local:iso/debian-12.iso,media=cdrom,size=628M',
      'mp0: /srv/data,mp=/data',
      'mp1: lvmthin_luks_local:vm-1104-disk-1,mp=/backup,size=100G',
      'scsi0: lvm_luks_shared:vm-1104-disk-0,size=32G',
      'unused0: lvm_noluks_shared:vm-1104-disk-2',
      '',
      '[before-upgrade]',
      'scsi0: other:vm-1104-disk-9,size=1G',
    ].join('\n'));
    expect(c.storages).toEqual(['local', 'lvmthin_luks_local', 'lvm_luks_shared', 'lvm_noluks_shared']);
    expect(c.disks[0]).toMatchObject({ key: 'ide2', media: 'cdrom', sizeBytes: 628 * 2 ** 20 });
    expect(c.fields.scsi0).toBe('lvm_luks_shared:vm-1104-disk-0,size=32G');
  });
});

describe('parsePvesmStatus', () => {
  it('reads KiB sizes and an inactive LUKS storage', () => {
    expect(parsePvesmStatus(fixture('pvesm-status.txt'))).toEqual([
      { name: 'lvm_luks_shared', type: 'lvm', status: 'inactive', totalBytes: 0, usedBytes: 0, availableBytes: 0, percent: 0 },
      { name: 'lvm_noluks_shared', type: 'lvm', status: 'active', totalBytes: 10 * 2 ** 40, usedBytes: 170 * GiB, availableBytes: 10 * 2 ** 40 - 170 * GiB, percent: 1.66 },
      { name: 'lvmthin_luks_local', type: 'lvmthin', status: 'active', totalBytes: 300 * GiB, usedBytes: 30 * GiB, availableBytes: 270 * GiB, percent: 10 },
    ]);
  });

  it('reads a disabled storage', () => {
    const text = 'Name         Type     Status           Total            Used       Available        %\nold           dir   disabled               0               0               0      N/A\n';
    expect(parsePvesmStatus(text)).toEqual([{ name: 'old', type: 'dir', status: 'disabled', totalBytes: 0, usedBytes: 0, availableBytes: 0, percent: null }]);
  });
});

describe('parseDfAvail', () => {
  it('reads the free bytes of /boot', () => {
    expect(parseDfAvail(fixture('df-boot.txt'))).toBe(180_000_000);
    expect(parseBootFree('   Avail\n70123520\n')).toBe(70_123_520);
    expect(() => parseDfAvail('df: /boot: No such file or directory\n')).toThrow(ParseError);
  });
});

describe('LUKS listings', () => {
  it('reads the page\'s blkid lines: the multipath paths of one LUN share a UUID', () => {
    const entries = parseBlkid(fixture('blkid-luks.txt'));
    expect(entries[0]).toEqual({
      path: '/dev/sda5', uuid: '43b0c19b-977b-4fc7-838a-c38494a7681c', type: 'crypto_LUKS', partuuid: '46a561e0-05',
      fields: { UUID: '43b0c19b-977b-4fc7-838a-c38494a7681c', TYPE: 'crypto_LUKS', PARTUUID: '46a561e0-05' },
    });
    expect(entries.filter((e) => e.uuid === '0c5a3449-73bd-4e2b-a00f-d807b1bb74ad').map((e) => e.path)).toEqual([
      '/dev/sdd', '/dev/sdg', '/dev/mapper/36005076802810cce880000000000002d',
    ]);
    expect(entries.every((e) => e.type === 'crypto_LUKS')).toBe(true);
    expect(() => parseBlkid('garbage\n')).toThrow(ParseError);
  });

  it('reads /etc/crypttab', () => {
    expect(parseCrypttab(fixture('crypttab.txt'))).toEqual([
      { name: 'sda5_crypt', source: 'UUID=43b0c19b-977b-4fc7-838a-c38494a7681c', uuid: '43b0c19b-977b-4fc7-838a-c38494a7681c', keyFile: 'none', options: ['luks', 'discard', 'initramfs'] },
      { name: 'vg_fma_luks', source: 'UUID=0c5a3449-73bd-4e2b-a00f-d807b1bb74ad', uuid: '0c5a3449-73bd-4e2b-a00f-d807b1bb74ad', keyFile: 'none', options: ['luks', 'noauto'] },
      { name: 'vg_local_luks', source: 'UUID=b93272fd-e26f-407f-aa3b-a85c388e89ab', uuid: 'b93272fd-e26f-407f-aa3b-a85c388e89ab', keyFile: 'none', options: ['luks', 'noauto'] },
    ]);
    expect(parseCrypttab('swap /dev/sda6 /dev/urandom swap\n')).toEqual([{ name: 'swap', source: '/dev/sda6', uuid: '', keyFile: '/dev/urandom', options: ['swap'] }]);
  });

  it('reads the open dm-crypt mappings', () => {
    expect(parseDmsetupCrypt(fixture('dmsetup-crypt.txt'))).toEqual(['sda5_crypt', 'vg_local_luks']);
    expect(parseDmsetupCrypt('No devices found\n')).toEqual([]);
    expect(parseDmsetupCrypt('vg_fma_luks\t(254, 3)\n')).toEqual(['vg_fma_luks']);
  });

  it('reads which logical volumes are active (lvs lv_attr, 5th letter; lvs(8) "lv_attr bits")', () => {
    // A Proxmox node after luksOpen of its LUNs, before vgchange -ay: the root's pve is active, the LUN's VG not yet.
    expect(parseLvsActive('  pve          -wi-ao----\n  pve          twi-aotz--\n  vg_fma_luks  -wi-------\n')).toEqual([
      { vg: 'pve', active: true }, { vg: 'pve', active: true }, { vg: 'vg_fma_luks', active: false },
    ]);
    expect(parseLvsActive('')).toEqual([]);
    expect(() => parseLvsActive('  pve\n')).toThrow(/lvs: cannot read line "pve"/);
  });
});

describe('parseXlList', () => {
  it('reads Domain-0 and the guests', () => {
    const domains = parseXlList(fixture('xl-list.txt'));
    expect(domains[0]).toEqual({
      name: 'Domain-0', id: 0, memMiB: 4096, vcpus: 4, state: 'r-----',
      running: true, blocked: false, paused: false, shutdown: false, dying: false, crashed: false, cpuSeconds: 270,
    });
    expect(domains.map((d) => [d.name, d.id])).toEqual([
      ['Domain-0', 0], ['firewall', 1], ['firewall-slave', 2], ['srvnfs', 3], ['srvlan', 4], ['srvpub', 5], ['machin', 8], ['guest2', 9],
    ]);
    expect(domains.find((d) => d.name === 'srvnfs')).toMatchObject({ memMiB: 2048, blocked: true, running: false });
  });

  it('reads a domain being torn down, and refuses other text', () => {
    // xl prints the dying letter sixth, after the shutdown reason (tools/xl/xl_info.c): `--ps-d`, never `--psd-`.
    const text = 'Name                                        ID   Mem VCPUs\tState\tTime(s)\n(null)                                       7     0     1     --ps-d       3.2\n';
    expect(parseXlList(text)[0]).toMatchObject({ name: '(null)', paused: true, shutdown: true, dying: true });
    expect(() => parseXlList('xl: command not found\n')).toThrow(ParseError);
  });
});

/** Fixtures under upstream/ come from the tools' own sources; upstream/SOURCES.md names each one's origin. */
const upstream = (name: string) => fixture(`upstream/${name}`);

describe('parseXlList on upstream outputs', () => {
  it('reads the xl(1) man page example', () => {
    expect(parseXlList(upstream('xl-list-man.txt')).map((d) => [d.name, d.id, d.memMiB, d.vcpus, d.running, d.cpuSeconds])).toEqual([
      ['Domain-0', 0, 750, 4, true, 11794.3], ['win', 1, 1019, 1, true, 0.3], ['linux', 2, 2048, 2, true, 5624.2],
    ]);
  });

  it('reads the trailing Claimed column of xl claims', () => {
    const domains = parseXlList(upstream('xl-claims-man.txt'));
    expect(domains.map((d) => [d.name, d.paused])).toEqual([['Domain-0', false], ['OL5', true], ['OL6', false], ['Windows_XP', true]]);
  });

  it('reads dying and crashed domains as xl prints them: r b p s, the shutdown reason, then d', () => {
    const domains = parseXlList(upstream('xl-list-dying.txt'));
    expect(domains.map((d) => d.name)).toEqual(['Domain-0', 'firewall', '(null)', 'srvpub', '(null)', 'machin', 'a-domain-name-longer-than-forty-characters']);
    const [, , nameless, crashed, dying, paused] = domains;
    expect(nameless).toMatchObject({ id: 7, state: '--psc-', paused: true, shutdown: true, crashed: true, dying: false, shutdownReason: 'crash', nameUnknown: true });
    expect(crashed).toMatchObject({ id: 5, state: '---sc-', shutdown: true, crashed: true, dying: false, shutdownReason: 'crash' });
    expect(crashed?.nameUnknown).toBeUndefined();
    expect(dying).toMatchObject({ id: 8, shutdown: true, crashed: false, dying: true, shutdownReason: 'poweroff', nameUnknown: true });
    expect(paused).toMatchObject({ paused: true, shutdown: false, crashed: false, dying: false });
    expect(paused?.shutdownReason).toBeUndefined();
    expect(domains[6]).toMatchObject({ id: 10, memMiB: 512, blocked: true });
  });

  it('refuses what is not an xl list row with a ParseError naming the tool and the line', () => {
    const header = 'Name                                        ID   Mem VCPUs\tState\tTime(s)\n';
    expect(() => parseXlList(`${header}libxl: error: libxl_utils.c:820:libxl_cpu_bitmap_alloc: failed\n`)).toThrow(/xl list: cannot read line "libxl: error/);
    expect(() => parseXlList(`${header}guest 3 512 1 -x---- 1.0\n`)).toThrow(ParseError);
    expect(() => parseXlList('')).toThrow(/xl list: no "Name ID Mem VCPUs State Time\(s\)" header/);
  });
});

describe('pvecm on upstream outputs', () => {
  it('reads pve-docs\' four-node status: hex node ids, the local one marked', () => {
    const s = parsePvecmStatus(upstream('pvecm-status-docs.txt'));
    expect(s).toMatchObject({ quorate: true, nodes: 4, nodeId: 1, expectedVotes: 4, highestExpected: 4, totalVotes: 4, quorum: 3, flags: ['Quorate'] });
    expect(s.qdevice).toBeUndefined();
    expect(s.members).toEqual([
      { nodeId: 1, votes: 1, name: '192.168.15.91', local: false },
      { nodeId: 2, votes: 1, name: '192.168.15.92', local: true },
      { nodeId: 3, votes: 1, name: '192.168.15.93', local: false },
      { nodeId: 4, votes: 1, name: '192.168.15.94', local: false },
    ]);
  });

  it('reads pve-docs\' node list', () => {
    expect(parsePvecmNodes(upstream('pvecm-nodes-docs.txt')).map((m) => [m.nodeId, m.name, m.local])).toEqual([
      [1, 'hp1', false], [2, 'hp2', true], [3, 'hp3', false], [4, 'hp4', false],
    ]);
    // Without a Qdevice column an upper-case name is a name, not flags.
    expect(parsePvecmNodes(upstream('pvecm-nodes-docs.txt').replace('hp2', 'HP2'))[1]).toEqual({ nodeId: 2, votes: 1, name: 'HP2', local: true });
  });

  it('tells the QDevice row from the nodes in pve-docs\' QDevice status (abridged: quorate read from the votequorum flags)', () => {
    const s = parsePvecmStatus(upstream('pvecm-status-qdevice-docs.txt'));
    expect(s).toMatchObject({ quorate: true, expectedVotes: 3, totalVotes: 3, quorum: 2, flags: ['Quorate', 'Qdevice'] });
    expect(s.members.filter((m) => !m.qdevice)).toEqual([
      { nodeId: 1, votes: 1, name: '192.168.22.180', local: true, qdeviceFlags: ['A', 'V', 'NMW'] },
      { nodeId: 2, votes: 1, name: '192.168.22.181', local: false, qdeviceFlags: ['A', 'V', 'NMW'] },
    ]);
    expect(s.members.filter((m) => m.qdevice)).toEqual([{ nodeId: 0, votes: 1, name: 'Qdevice', local: false, qdevice: true }]);
    expect(s.qdevice).toEqual({ name: 'Qdevice', votes: 1, castingVote: true });
  });

  it('reads a QDevice that casts no vote for this node and a node it is not registered on', () => {
    const s = parsePvecmStatus(upstream('pvecm-status-qdevice-novote.txt'));
    expect(s).toMatchObject({ quorate: true, nodes: 2, totalVotes: 2, quorum: 2, flags: ['Quorate', 'Qdevice'] });
    expect(s.members.map((m) => [m.nodeId, m.name, m.qdeviceFlags, m.qdevice])).toEqual([
      [1, '192.168.22.180', ['NA', 'NV', 'NMW'], undefined],
      [2, '192.168.22.181', ['NR'], undefined],
      [0, 'Qdevice', undefined, true],
    ]);
    expect(s.qdevice).toEqual({ name: 'Qdevice', votes: 1, castingVote: false });
  });

  it('refuses a membership line it cannot read, naming the tool and the line', () => {
    const text = upstream('pvecm-nodes-docs.txt').replace('hp3', 'hp3 and more words');
    expect(() => parsePvecmNodes(text)).toThrow(/pvecm nodes: cannot read membership line "3 +1 hp3 and more words"/);
  });
});

describe('parseBlkid on util-linux\'s test data', () => {
  it('reads LUKS and RAID members, escaped quotes and control characters in a label, and an image file\'s name', () => {
    const [image, luks, raid] = parseBlkid(upstream('blkid-util-linux.txt'));
    expect(image).toMatchObject({ path: 'blkid-output.img', type: 'cramfs', label: 'tM-CM-)s"\'^J t' });
    expect(luks).toEqual({
      path: '/dev/sdd', uuid: '202265fe-9842-4c2d-ac9b-aba1b05deb63', type: 'crypto_LUKS', label: 'tst_label',
      fields: { VERSION: '2', UUID: '202265fe-9842-4c2d-ac9b-aba1b05deb63', LABEL: 'tst_label', SUBSYSTEM: 'tst_subsys', TYPE: 'crypto_LUKS', USAGE: 'crypto' },
    });
    expect(raid).toMatchObject({ path: '/dev/sda2', type: 'linux_raid_member', uuid: '37c76b91-011a-05c5-d30c-1fd4c5c3dbbc' });
  });

  it('keeps the colons of a by-path name in the path', () => {
    const [entry] = parseBlkid('/dev/disk/by-path/pci-0000:00:1f.2-ata-1: UUID="0c5a3449-73bd-4e2b-a00f-d807b1bb74ad" TYPE="crypto_LUKS"\n');
    expect(entry).toMatchObject({ path: '/dev/disk/by-path/pci-0000:00:1f.2-ata-1', type: 'crypto_LUKS' });
    expect(() => parseBlkid('blkid: error: /dev/sdz: No such file or directory\n')).toThrow(/blkid: cannot read line "blkid: error/);
  });
});

describe('crypttab and dmsetup as their own documents and sources write them', () => {
  it('reads systemd\'s crypttab(5) example: a two-field LUKS line, swap, TrueCrypt, a key file on a labelled device', () => {
    const entries = parseCrypttab(upstream('crypttab-systemd-man.txt'));
    expect(entries[0]).toEqual({ name: 'luks', source: 'UUID=2505567a-9e27-4efe-a4d5-15ad146c258b', uuid: '2505567a-9e27-4efe-a4d5-15ad146c258b', keyFile: 'none', options: [] });
    expect(entries.map((e) => [e.name, e.source, e.keyFile, e.options])).toEqual([
      ['luks', 'UUID=2505567a-9e27-4efe-a4d5-15ad146c258b', 'none', []],
      ['swap', '/dev/sda7', '/dev/urandom', ['swap']],
      ['truecrypt', '/dev/sda2', '/etc/container_password', ['tcrypt']],
      ['hidden', '/mnt/tc_hidden', '/dev/null', ['tcrypt-hidden', 'tcrypt-keyfile=/etc/keyfile']],
      ['external', '/dev/sda3', 'keyfile:LABEL=keydev', ['keyfile-timeout=10s']],
    ]);
  });

  it('takes "-" in the password field as "none" (asked at boot), as crypttab(5) says', () => {
    expect(parseCrypttab('data UUID=0c5a3449-73bd-4e2b-a00f-d807b1bb74ad - luks,noauto\n')[0]).toMatchObject({ keyFile: 'none', options: ['luks', 'noauto'] });
  });

  it('reads dmsetup ls in each of its name forms (libdm/dm-tools/dmsetup.c _display_name), and refuses other lines', () => {
    expect(parseDmsetupCrypt('sda5_crypt\t(254:0)\nvg_local_luks\t(254, 4)\nvg_fma_luks\t(dm-3)\n')).toEqual(['sda5_crypt', 'vg_local_luks', 'vg_fma_luks']);
    expect(() => parseDmsetupCrypt('/dev/mapper/control: open failed: Permission denied\n')).toThrow(/dmsetup ls: cannot read line "\/dev\/mapper\/control: open failed/);
  });
});

describe('parseGuestConfig on pve-docs\' examples', () => {
  it('reads the qm.adoc example VM', () => {
    const c = parseGuestConfig(upstream('qm-config-docs.txt'));
    expect(c).toMatchObject({ name: 'webmail', memoryMiB: 512, cores: 1, sockets: 1, onboot: false, storages: ['local'] });
    expect(c.disks).toEqual([{ key: 'virtio0', storage: 'local', volume: 'vm-100-disk-1', size: '32G', sizeBytes: 32 * GiB }]);
  });

  it('reads the pct.adoc example container with a raw lxc.* key, as pct config prints them (after the others)', () => {
    const c = parseGuestConfig(upstream('pct-config-docs.txt'));
    expect(c).toMatchObject({ name: 'www', memoryMiB: 512, storages: ['local'] });
    expect(c.disks).toEqual([{ key: 'rootfs', storage: 'local', volume: '107/vm-107-disk-1.raw', size: '7G', sizeBytes: 7 * GiB }]);
    expect(c.fields['lxc.init_cmd']).toBe('/sbin/my_own_init');
  });

  it('refuses a line that is no key, naming the tool and the line', () => {
    expect(() => parseGuestConfig('memory: 512\nUnable to find configuration file for VM 999\n')).toThrow(/guest config: cannot read line "Unable to find configuration file for VM 999"/);
  });
});

describe('parsePvesmStatus as pvesm prints it since PVE 9', () => {
  it('reads the "Total (KiB)" headings, an inactive storage and a disabled one', () => {
    expect(parsePvesmStatus(upstream('pvesm-status-pve9.txt'))).toEqual([
      { name: 'local', type: 'dir', status: 'active', totalBytes: 98497780 * 1024, usedBytes: 12056327 * 1024, availableBytes: 81408696 * 1024, percent: 12.24 },
      { name: 'local-lvm', type: 'lvmthin', status: 'active', totalBytes: 1806984784 * 1024, usedBytes: 180698478 * 1024, availableBytes: 1626286305 * 1024, percent: 10 },
      { name: 'nfs-backup', type: 'nfs', status: 'inactive', totalBytes: 0, usedBytes: 0, availableBytes: 0, percent: 0 },
      { name: 'old-iso', type: 'dir', status: 'disabled', totalBytes: 0, usedBytes: 0, availableBytes: 0, percent: null },
    ]);
  });

  it('refuses headings in another unit rather than misread the sizes', () => {
    expect(() => parsePvesmStatus('Name Type Status Total (MiB) Used (MiB) Available (MiB) %\n')).toThrow(/pvesm status: no "Name Type Status Total Used Available %" header/);
  });
});

describe('parseDfAvail under a translated df', () => {
  it('reads the byte count whatever language the one-word heading is in (Dispo, Verf.)', () => {
    const fr = upstream('df-avail-fr.txt');
    expect(parseDfAvail(fr)).toBe(Number(fr.split('\n')[1]));
    const de = upstream('df-avail-de.txt');
    expect(parseDfAvail(de)).toBe(Number(de.split('\n')[1]));
  });

  it('still refuses an error, two counts, or a heading that is a number', () => {
    expect(() => parseDfAvail('df: /boot: Aucun fichier ou dossier de ce type\n')).toThrow(/df: expected a heading and one byte count/);
    expect(() => parseDfAvail('Avail\n1\n2\n')).toThrow(ParseError);
    expect(() => parseDfAvail('123\n456\n')).toThrow(ParseError);
  });
});

describe('parseClusterResources against the /cluster/resources schema (pve-docs api-viewer/apidata.js)', () => {
  it('skips the types it does not use (pool, sdn, network, openvz) and takes booleans for template and shared', () => {
    const r = parseClusterResources(JSON.stringify([
      { id: '/pool/prod', type: 'pool', pool: 'prod' },
      { id: 'network/pve1/fabric/f1', type: 'network', network: 'f1', 'network-type': 'fabric', protocol: 'openfabric', node: 'pve1', status: 'ok' },
      { id: 'openvz/101', type: 'openvz', vmid: 101, node: 'pve1' },
      { id: 'qemu/9000', type: 'qemu', vmid: 9000, name: 'tmpl', node: 'pve1', status: 'stopped', template: true, maxmem: 1, maxcpu: 1, tags: 'a;b', lock: 'backup', hastate: 'ignored' },
      { id: 'storage/pve1/ceph', type: 'storage', storage: 'ceph', node: 'pve1', status: 'available', shared: true, plugintype: 'rbd', content: 'images,rootdir' },
      { id: 'node/pve2', type: 'node', node: 'pve2', status: 'offline', level: '', 'cgroup-mode': 2 },
    ]));
    expect(r.guests).toEqual([{ vmid: 9000, type: 'qemu', name: 'tmpl', node: 'pve1', status: 'stopped', maxmem: 1, maxcpu: 1, template: true }]);
    expect(r.storages).toEqual([{ storage: 'ceph', node: 'pve1', status: 'available', shared: true, plugintype: 'rbd', content: ['images', 'rootdir'] }]);
    expect(r.nodes).toEqual([{ node: 'pve2', status: 'offline', maxmem: 0, maxcpu: 0 }]);
  });
});
