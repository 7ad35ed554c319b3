/** The Proxmox and Xen-guest simulators on their own, without SSH: exec over states shared through a LabView. */
import { describe, expect, it } from 'vitest';
import { parseClusterResources, parseGuestConfig, parsePvecmNodes, parsePvecmStatus, parsePvesmStatus } from '../activities/parsers/proxmox.js';
import { parseXlList } from '../activities/parsers/xl.js';
import { parseInventory } from '../common/inventory.js';
import { matchingSlot } from '../lab/capabilities/luks/index.js';
import { proxmoxNode, proxmoxPassphrase } from '../lab/hosts/proxmox-node.js';
import type { LabView } from '../lab/core/types.js';
import { XEN_PAGE_GUESTS, xenDom0, xenDom0Preset, xenDom0WithGuests, type XenDom0State } from '../lab/hosts/xen-dom0.js';
import { splitWords } from '../lab/words.js';
import { pveCluster, T0, type Run } from './helpers/pve-sim.js';

const GiB = 2 ** 30;
const cluster = pveCluster;

describe('Proxmox cluster preset', () => {
  it('builds three nodes of the page with its LUNs, and an inventory-valid cluster', () => {
    const { spec, states } = cluster();
    expect(spec.clusters).toEqual([{ name: 'fma', kind: 'proxmox', hosts: ['skumenn', 'gueuza', 'kurun'] }]);
    expect(states.map((s) => [s.name, s.nodeId, s.cores, s.threads, s.memBytes])).toEqual([
      ['skumenn', 1, 12, 24, 64 * GiB], ['gueuza', 2, 12, 24, 64 * GiB], ['kurun', 3, 12, 24, 64 * GiB],
    ]);
    const sk = states[0]!;
    expect(sk.luks!.volumes.map((v) => [v.name, v.root, v.vg, v.paths])).toEqual([
      ['sda5_crypt', true, 'pve', ['/dev/sda5']],
      ['vg_fma_luks', false, 'vg_fma_luks', ['/dev/sdd', '/dev/sdg', '/dev/mapper/36005076802810cce880000000000002d']],
      ['vg_local_luks', false, 'vg_local_luks', ['/dev/sdb', '/dev/sde', '/dev/mapper/36005076802810cce880000000000002e']],
    ]);
    expect(states[2]!.luks!.volumes[2]!.paths[2]).toBe('/dev/mapper/36005076802810cce8800000000000030');
    // One shared LUN: the same LUKS header on every node; each node's own LUN is its own.
    expect(new Set(states.map((s) => s.luks!.volumes[1]!.uuid)).size).toBe(1);
    expect(new Set(states.map((s) => s.luks!.volumes[2]!.uuid)).size).toBe(3);
    expect(matchingSlot(sk.luks!.volumes[0]!, proxmoxPassphrase({}, 'root', 'skumenn'))).toBe(0);
    expect(matchingSlot(sk.luks!.volumes[1]!, 'lab fma shared LUN passphrase')).toBe(0);
    expect(JSON.stringify(states)).not.toContain('passphrase');
    const inv = parseInventory({
      ssh: { privateKeyPath: '/k' }, clusters: spec.clusters,
      hosts: spec.hosts.map((h, i) => ({ name: h.name, address: `127.0.0.${i + 1}`, kind: h.kind, hostKeys: { openssh: 'ssh-ed25519 AAAA' } })),
    });
    expect(inv.clusters[0]!.hosts).toHaveLength(3);
  });

  it('keeps the page\'s id ranges and storages: association on LUKS, members in clear, one local VM per node', () => {
    const { states } = cluster();
    const all = states.flatMap((s) => s.guests);
    for (const g of all.filter((x) => x.vmid < 2000)) expect(g.disks[0]!.storage).toMatch(/^lvm(thin)?_luks_(shared|local)$/);
    expect(all.filter((g) => g.disks.some((d) => d.storage === 'lvmthin_luks_local')).map((g) => g.vmid)).toEqual([2010, 2011, 1104]);
    expect(all.filter((g) => g.type === 'lxc').map((g) => g.vmid)).toEqual([1101, 1102, 1103, 1104]);
  });
});

describe('Proxmox node simulator', () => {
  it('reports quorum from the nodes that run, and exits 1 even when quorate (ResEl page)', () => {
    const c = cluster();
    const up = c.run('skumenn', 'pvecm status');
    expect(up.code).toBe(1);
    expect(parsePvecmStatus(up.out)).toMatchObject({ quorate: true, expectedVotes: 3, totalVotes: 3, quorum: 2 });
    expect(up.out).toContain('0x00000001          1 10.10.10.24 (local)\n');
    c.node('kurun').power = 'down';
    expect(parsePvecmStatus(c.run('skumenn', 'pvecm status').out)).toMatchObject({ quorate: true, totalVotes: 2 });
    c.node('gueuza').power = 'dropbear'; // still in its initramfs: not in corosync
    const alone = c.run('skumenn', 'pvecm status');
    expect(alone.code).toBe(1);
    expect(parsePvecmStatus(alone.out)).toMatchObject({ quorate: false, totalVotes: 1, flags: [] });
    expect(c.run('skumenn', 'pvecm nodes').out).toBe('\nMembership information\n----------------------\n    Nodeid      Votes Name\n         1          1 skumenn (local)\n');
    // Without quorum nothing starts, nothing migrates.
    c.guest(2003).status = 'stopped';
    expect(c.run('skumenn', 'qm start 2003')).toMatchObject({ code: 255, err: 'cluster not ready - no quorum?\n' });
    expect(c.run('skumenn', 'qm migrate 2001 gueuza --online')).toMatchObject({ code: 255, err: 'cluster not ready - no quorum?\n' });
  });

  it('migrates a VM on shared storage live: the guest object moves to the target node', () => {
    const c = cluster();
    const r = c.run('skumenn', 'qm migrate 1001 gueuza --online');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/starting migration of VM 1001 to node 'gueuza' \(10\.10\.10\.25\)\n/);
    expect(r.out).toMatch(/migration finished successfully \(duration \d\d:\d\d:\d\d\)\n$/);
    expect(c.where(1001)).toBe('gueuza');
    expect(c.guest(1001).status).toBe('running');
    expect(c.run('skumenn', 'qm status 1001')).toMatchObject({ code: 255, err: "Configuration file 'nodes/skumenn/qemu-server/1001.conf' does not exist\n" });
    expect(c.run('gueuza', 'qm status 1001').out).toBe('status: running\n');
    // Every node sees the move.
    const seen = parseClusterResources(c.run('kurun', 'pvesh get /cluster/resources --output-format json').out);
    expect(seen.guests.find((g) => g.vmid === 1001)).toMatchObject({ node: 'gueuza', status: 'running' });
    expect(c.run('skumenn', 'qm migrate 1001 gueuza --online').code).toBe(255);
  });

  it('refuses to live-migrate a VM with a local disk, like PVE', () => {
    const c = cluster();
    const r = c.run('skumenn', 'qm migrate 2010 gueuza --online');
    expect(r.code).toBe(255);
    expect(r.out).toContain("can't migrate local disk 'lvmthin_luks_local:vm-2010-disk-0': can't live migrate attached local disks without with-local-disks option");
    expect(r.err).toBe('migration aborted\n');
    expect(c.where(2010)).toBe('skumenn');
    expect(c.guest(2010).status).toBe('running');
    // What the page does instead: shut it down, it stays on its node.
    expect(c.run('skumenn', 'qm shutdown 2010 --timeout 180')).toMatchObject({ code: 0, out: '' });
    expect(c.run('skumenn', 'qm status 2010').out).toBe('status: stopped\n');
    expect(parseGuestConfig(c.run('skumenn', 'qm config 2010').out).storages).toEqual(['lvmthin_luks_local']);
  });

  it('refuses a running VM without --online, a target that is down, and a target too small', () => {
    const c = cluster({ nodeCapacity: { kurun: { memBytes: 2 * GiB } } });
    expect(c.run('skumenn', 'qm migrate 2001 gueuza')).toMatchObject({ code: 255, err: "can't migrate running VM without --online\n" });
    expect(c.run('skumenn', 'qm migrate 2001 skumenn --online')).toMatchObject({ code: 255, err: 'target is local node.\n' });
    expect(c.run('skumenn', 'qm migrate 2001 nowhere --online')).toMatchObject({ code: 255, err: "no such cluster node 'nowhere'\n" });
    const full = c.run('skumenn', 'qm migrate 1002 kurun --online');
    expect(full.code).toBe(255);
    expect(full.out).toContain('Cannot allocate memory');
    expect(c.where(1002)).toBe('skumenn');
    c.node('gueuza').power = 'down';
    expect(c.run('skumenn', 'qm migrate 2001 gueuza --online')).toMatchObject({ code: 255, err: "target node 'gueuza' is not online\n" });
    expect(c.run('skumenn', 'qm migrate 2001 gueuza --frobnicate').err).toMatch(/^Unknown option: frobnicate\n/);
  });

  it('migrates a container only in restart mode: stopped, moved, started', () => {
    const c = cluster();
    const live = c.run('skumenn', 'pct migrate 1101 kurun');
    expect(live.code).toBe(255);
    expect(live.out).toContain('running container can only be migrated in restart mode');
    expect(c.run('skumenn', 'pct migrate 1101 kurun --online').out).toContain('lxc live migration is currently not implemented');
    expect(c.where(1101)).toBe('skumenn');
    const r = c.run('skumenn', 'pct migrate 1101 kurun --restart');
    expect(r.code).toBe(0);
    expect(r.out.split('\n').map((l) => l.slice(20)).filter(Boolean)).toEqual([
      'shutdown CT 1101',
      "starting migration of CT 1101 to node 'kurun' (10.10.10.26)",
      "volume 'lvm_luks_shared:vm-1101-disk-0' is on shared storage 'lvm_luks_shared'",
      'start final cleanup',
      'start container on target node',
      'migration finished successfully (duration 00:00:09)',
    ]);
    expect(c.where(1101)).toBe('kurun');
    expect(c.run('kurun', 'pct status 1101').out).toBe('status: running\n');
    expect(c.run('kurun', 'pct list').out).toMatch(/^1101\s+running\s+dns1\s*$/m);
  });

  it('needs the LUKS VG of a storage to be open and active: storage, start, migration', () => {
    const c = cluster();
    const gueuza = c.node('gueuza');
    const shared = gueuza.luks!.volumes.find((v) => v.vg === 'vg_fma_luks')!;
    shared.vgActive = false;
    const storages = parsePvesmStatus(c.run('gueuza', 'pvesm status').out);
    expect(storages.map((s) => [s.name, s.status])).toEqual([
      ['lvm_luks_shared', 'inactive'], ['lvm_noluks_shared', 'active'], ['lvmthin_luks_local', 'active'],
    ]);
    const moved = c.run('skumenn', 'qm migrate 1001 gueuza --online');
    expect(moved.code).toBe(255);
    expect(moved.out).toContain("storage 'lvm_luks_shared' is not available on node 'gueuza'");
    c.guest(1102).status = 'stopped';
    const start = c.run('gueuza', 'pct start 1102');
    expect(start.code).toBe(255);
    expect(start.err).toContain('Volume group "vg_fma_luks" not found');
    // vgchange after luksOpen: through the LUKS commands every host kind shares.
    expect(c.run('gueuza', 'vgchange -ay').code).toBe(0);
    expect(c.run('gueuza', 'pct start 1102')).toMatchObject({ code: 0 });
    expect(c.run('gueuza', 'pct start 1102')).toMatchObject({ code: 255, err: 'CT 1102 already running\n' });
  });

  it('gives up a shutdown on a guest that ignores it', () => {
    const c = cluster();
    c.guest(2002).hangsOnShutdown = true;
    expect(c.run('skumenn', 'qm shutdown 2002 --timeout 5')).toMatchObject({ code: 255, err: 'VM quit/powerdown failed - got timeout\n' });
    expect(c.guest(2002).status).toBe('running');
    expect(c.run('skumenn', 'qm shutdown 2003 --timeout 5')).toMatchObject({ code: 255, err: 'VM 2003 not running\n' });
  });

  it('lists, configures and reports in the real formats', () => {
    const c = cluster();
    expect(c.run('skumenn', 'qm list').out.split('\n')[0]).toBe('      VMID NAME                 STATUS     MEM(MB)    BOOTDISK(GB) PID       ');
    expect(c.run('skumenn', 'qm list').out).toContain('      2003 REF-VM-03            stopped    1024              20.00 0         \n');
    expect(c.run('skumenn', 'pct list').out.split('\n')[0]).toBe('VMID       Status     Lock         Name                ');
    expect(c.run('skumenn', 'qm config 1001').out).toContain('scsi0: lvm_luks_shared:vm-1001-disk-0,size=20G\n');
    expect(c.run('skumenn', 'pct config 1101').out).toContain('rootfs: lvm_luks_shared:vm-1101-disk-0,size=8G\n');
    expect(c.run('skumenn', 'df -B1 --output=avail /boot').out).toBe('    Avail\n180000000\n');
    expect(JSON.parse(c.run('skumenn', 'pvesh get /storage --output-format json').out).map((s: { storage: string; shared: number }) => [s.storage, s.shared])).toEqual([
      ['lvm_luks_shared', 1], ['lvm_noluks_shared', 1], ['lvmthin_luks_local', 0],
    ]);
    const res = parseClusterResources(c.run('skumenn', 'pvesh get /cluster/resources --output-format json').out);
    expect(res.storages.filter((s) => s.storage === 'lvm_luks_shared').map((s) => [s.node, s.status])).toEqual([
      ['skumenn', 'available'], ['gueuza', 'available'], ['kurun', 'available'],
    ]);
    expect(c.run('skumenn', 'hostname').out).toBe('skumenn\n');
    expect(c.run('skumenn', 'frobnicate')).toMatchObject({ code: 127, err: 'bash: frobnicate: command not found\n' });
    expect(c.run('skumenn', 'reboot').after).toBe('reboot');
    expect(c.run('skumenn', 'poweroff').after).toBe('poweroff');
  });

  it('shows an offline node and its guests as the others see them, and brings the guests back stopped after a boot', () => {
    const c = cluster();
    const kurun = c.node('kurun');
    const before = c.run('kurun', 'cat /proc/sys/kernel/random/boot_id').out;
    kurun.power = 'down';
    const res = parseClusterResources(c.run('skumenn', 'pvesh get /cluster/resources --output-format json').out);
    expect(res.nodes.find((n) => n.node === 'kurun')).toMatchObject({ status: 'offline' });
    expect(res.guests.filter((g) => g.node === 'kurun').every((g) => g.status === 'unknown')).toBe(true);
    expect(res.storages.filter((s) => s.node === 'kurun').every((s) => s.status === 'unknown')).toBe(true);
    proxmoxNode.boot(kurun, T0 + 600_000);
    kurun.power = 'openssh';
    expect(c.run('kurun', 'cat /proc/sys/kernel/random/boot_id').out).not.toBe(before);
    expect(kurun.guests.every((g) => g.status === 'stopped')).toBe(true);
    expect(kurun.luks!.volumes.every((v) => !v.open && !v.vgActive)).toBe(true);
    expect(parsePvesmStatus(c.run('kurun', 'pvesm status').out).map((s) => s.status)).toEqual(['inactive', 'active', 'inactive']);
  });
});

describe('Xen guests on a dom0', () => {
  function dom0(tweaks: Parameters<typeof xenDom0WithGuests>[1] = {}) {
    const spec = xenDom0WithGuests('dom0', tweaks);
    const state: XenDom0State = spec.state;
    xenDom0.boot(state, T0);
    state.power = 'openssh';
    const lab: LabView = { host: () => state, hosts: () => [state] };
    const run = (command: string, now: number): Run => {
      xenDom0.settle(state, now);
      const r = xenDom0.exec(state, splitWords(command), { now, stage: 'openssh', lab });
      if ('needStdin' in r) throw new Error('stdin');
      return { out: r.stdout.toString(), err: r.stderr, code: r.exitCode };
    };
    const names = (now: number) => parseXlList(run('xl list', now).out).map((d) => d.name);
    return { spec, state, run, names };
  }

  it('carries the page\'s guests and their dependencies for the inventory', () => {
    const { spec, names } = dom0();
    expect(spec.guests).toEqual(XEN_PAGE_GUESTS.map((g) => ({ ...g, config: `/etc/xen/${g.name}.cfg` })));
    expect(spec.guests!.filter((g) => g.name !== 'firewall').every((g) => g.dependsOn.includes('firewall'))).toBe(true);
    expect(names(T0 + 1000)).toEqual(['Domain-0', 'firewall', 'firewall-slave', 'srvnfs', 'srvlan', 'srvpub', 'guest1', 'guest2', 'machin']);
    const inv = parseInventory({ ssh: { privateKeyPath: '/k' }, hosts: [{ name: 'dom0', address: '127.0.0.1', kind: 'xen-dom0', hostKeys: { openssh: 'ssh-ed25519 AAAA' }, guests: spec.guests }] });
    expect(inv.hosts[0]!.guests).toHaveLength(8);
  });

  it('shuts a domain down after its shutdown time, not before', () => {
    const { run, names } = dom0({ domains: { guest1: { shutdownMs: 5000 } } });
    expect(run('xl shutdown guest1', T0 + 10_000)).toMatchObject({ code: 0, err: 'Shutting down domain 6\n' });
    expect(names(T0 + 14_000)).toContain('guest1');
    expect(run('xl create /etc/xen/guest1.cfg', T0 + 14_000)).toMatchObject({ code: 1, err: 'Parsing config from /etc/xen/guest1.cfg\nDomain guest1 already exists\n' });
    expect(names(T0 + 15_000)).not.toContain('guest1');
    expect(run('xl shutdown guest1', T0 + 16_000)).toMatchObject({ code: 1, err: 'guest1 is an invalid domain identifier (rc=-6)\n' });
  });

  it('leaves a hanging domain running until it is destroyed, then creates it again with a new id', () => {
    const { run, names, state } = dom0({ domains: { srvpub: { hangsOnShutdown: true } } });
    expect(run('xl shutdown srvpub', T0 + 1000).code).toBe(0);
    expect(names(T0 + 3_600_000)).toContain('srvpub');
    expect(run('xl shutdown -w srvpub', T0 + 3_600_000).code).toBe(1);
    expect(run('xl destroy srvpub', T0 + 3_600_000)).toMatchObject({ code: 0, out: '', err: '' });
    expect(names(T0 + 3_600_000)).not.toContain('srvpub');
    expect(run('xl create /etc/xen/srvpub.cfg', T0 + 3_601_000)).toMatchObject({ code: 0, err: 'Parsing config from /etc/xen/srvpub.cfg\n' });
    expect(parseXlList(run('xl list', T0 + 3_602_000).out).find((d) => d.name === 'srvpub')!.id).toBe(9);
    expect(state.domains!.find((d) => d.name === 'srvpub')!.state).toBe('running');
    expect(run('xl destroy 0', T0).code).toBe(1);
    expect(run('xl create /etc/xen/nothere.cfg', T0).err).toBe('Failed to read config file: /etc/xen/nothere.cfg: No such file or directory\n');
  });

  it('supports xl shutdown -w, answering as if it had waited', () => {
    const { run, names } = dom0();
    expect(run('xl shutdown -w firewall-slave', T0 + 1000)).toMatchObject({
      code: 0, err: 'Shutting down domain 2\nWaiting for 1 domains\nDomain 2 has been shut down, reason code 0\n',
    });
    expect(names(T0 + 1000)).not.toContain('firewall-slave');
  });

  it('starts no guest by itself after a dom0 reboot', () => {
    const { state, names } = dom0();
    xenDom0.boot(state, T0 + 60_000);
    expect(names(T0 + 61_000)).toEqual(['Domain-0']);
  });

  it('keeps presets without guests as they were: only Domain-0', () => {
    const plain = xenDom0Preset('x');
    expect(plain.domains).toBeUndefined();
    xenDom0.boot(plain, T0);
    plain.power = 'openssh';
    const r = xenDom0.exec(plain, ['xl', 'list'], { now: T0, stage: 'openssh', lab: { host: () => plain, hosts: () => [plain] } });
    expect('needStdin' in r ? '' : r.stdout.toString().split('\n').filter(Boolean)).toHaveLength(2);
  });
});


describe('corosync, pmxcfs and pvecm delnode ("Démonter notre cluster Proxmox")', () => {
  /** The page's sequence on `name`, one command at a time; every command must succeed. */
  function separate(c: ReturnType<typeof cluster>, name: string): void {
    for (const cmd of ['systemctl stop pve-cluster', 'systemctl stop corosync', 'pmxcfs -l', 'rm /etc/pve/corosync.conf', 'rm -r /etc/corosync/authkey /etc/corosync/corosync.conf']) {
      expect(c.run(name, cmd), cmd).toMatchObject({ code: 0 });
    }
    const pid = c.run(name, 'pidof pmxcfs').out.trim();
    expect(pid).toMatch(/^\d+$/);
    expect(c.run(name, `kill ${pid}`).code).toBe(0);
    expect(c.run(name, 'systemctl start pve-cluster').code).toBe(0);
  }

  it('shows a QDevice as the member row 0 with a Qdevice column, votes 2 → 3, and the parsers tell it from a node', () => {
    const c = cluster({ names: ['pve1', 'pve2'], qdevice: '172.26.145.70' });
    const status = parsePvecmStatus(c.run('pve1', 'pvecm status').out);
    expect(status).toMatchObject({ quorate: true, expectedVotes: 3, totalVotes: 3, quorum: 2, nodes: 2, flags: ['Quorate', 'Qdevice'], qdevice: { name: 'Qdevice', votes: 1, castingVote: true } });
    expect(status.members.filter((m) => !m.qdevice).map((m) => [m.nodeId, m.qdeviceFlags])).toEqual([[1, ['A', 'V', 'NMW']], [2, ['A', 'V', 'NMW']]]);
    expect(parsePvecmNodes(c.run('pve2', 'pvecm nodes').out).map((m) => `${m.nodeId}:${m.name}${m.local ? '*' : ''}${m.qdevice ? '(q)' : ''}`)).toEqual(['1:pve1', '2:pve2*', '0:Qdevice(q)']);
    expect(c.run('pve1', 'cat /etc/pve/corosync.conf').out).toMatch(/device \{[\s\S]*host: 172\.26\.145\.70[\s\S]*votes: 1/);
  });

  it('runs the page\'s sequence on a node, then delnode on a remaining one: two nodes left, quorate with 2 votes', () => {
    const c = cluster({ names: ['pve1', 'pve2', 'pve3'] });
    expect(c.run('pve2', 'pvecm delnode pve3')).toMatchObject({ code: 255, err: expect.stringContaining('still an online member') });
    separate(c, 'pve3');
    expect(parsePvecmStatus(c.run('pve1', 'pvecm status').out)).toMatchObject({ quorate: true, expectedVotes: 3, totalVotes: 2 });
    expect(c.run('pve1', 'pvecm delnode pve3')).toMatchObject({ code: 0, out: 'Killing node 3\n' });
    expect(parsePvecmStatus(c.run('pve2', 'pvecm status').out)).toMatchObject({ quorate: true, expectedVotes: 2, totalVotes: 2, quorum: 2 });
    expect(parsePvecmNodes(c.run('pve2', 'pvecm nodes').out).map((m) => m.name)).toEqual(['pve1', 'pve2']);
    expect(c.run('pve1', 'pvecm delnode pve3')).toMatchObject({ code: 255, err: 'Node/IP: pve3 is not a known host of the cluster.\n' });
    // The separated node stands alone; /var/lib/corosync still holds the old cluster's files until cleaned.
    expect(c.run('pve3', 'pvecm status')).toMatchObject({ code: 2, err: expect.stringContaining('is this node part of a cluster?') });
    expect(c.run('pve3', 'ls -A /var/lib/corosync').out).toBe('ringid_3\n');
    expect(c.run('pve3', 'rm -r /var/lib/corosync/ringid_3').code).toBe(0);
    expect(c.run('pve3', 'ls -A /var/lib/corosync').out).toBe('');
  });

  it('fails a wrong order as the real tools do', () => {
    const c = cluster({ names: ['pve1', 'pve2'] });
    expect(c.run('pve1', 'pvecm delnode pve1')).toMatchObject({ code: 255, err: 'Cannot delete myself from cluster!\n' });
    expect(c.run('pve2', 'pmxcfs -l')).toMatchObject({ code: 255, err: expect.stringContaining('unable to acquire pmxcfs lock') });
    expect(c.run('pve2', 'rm /etc/pve/corosync.conf')).toMatchObject({ code: 1, err: expect.stringContaining('Permission denied') });
    expect(c.run('pve2', 'systemctl stop pve-cluster').code).toBe(0);
    expect(c.run('pve2', 'rm /etc/pve/corosync.conf')).toMatchObject({ code: 1, err: expect.stringContaining('No such file') });
    expect(c.run('pve2', 'systemctl is-active pve-cluster')).toMatchObject({ code: 3, out: 'inactive\n' });
    expect(c.run('pve2', 'systemctl stop corosync').code).toBe(0);
    expect(c.run('pve2', 'pmxcfs -l').code).toBe(0);
    expect(c.run('pve2', 'systemctl start pve-cluster').code).toBe(1);
    // Two nodes without a QDevice: one vote of two is no quorum, delnode refuses.
    expect(c.run('pve1', 'pvecm delnode pve2')).toMatchObject({ code: 255, err: 'cluster not ready - no quorum?\n' });
    expect(c.run('pve1', 'kill 99999')).toMatchObject({ code: 1, err: 'bash: kill: (99999) - No such process\n' });
  });

  it('keeps two nodes and a QDevice quorate while one leaves', () => {
    const c = cluster({ names: ['pve1', 'pve2'], qdevice: '172.26.145.70' });
    separate(c, 'pve2');
    expect(parsePvecmStatus(c.run('pve1', 'pvecm status').out)).toMatchObject({ quorate: true, expectedVotes: 3, totalVotes: 2 });
    expect(c.run('pve1', 'pvecm delnode pve2').code).toBe(0);
    expect(parsePvecmStatus(c.run('pve1', 'pvecm status').out)).toMatchObject({ quorate: true, expectedVotes: 2, totalVotes: 2, quorum: 2 });
  });

  it('removes the QDevice from every member, then lets the node left alone regain quorum with pvecm expected', () => {
    const c = cluster({ names: ['pve1', 'pve2'], qdevice: '172.26.145.70' });
    expect(c.run('pve2', 'pvecm qdevice remove').code).toBe(0);
    expect(c.run('pve1', 'pvecm qdevice remove')).toMatchObject({ code: 255, err: 'No QDevice configured!\n' });
    expect(c.run('pve1', 'cat /etc/pve/corosync.conf').out).not.toContain('device {');
    expect(c.run('pve1', 'ls -A /etc/corosync').out).toBe('authkey\ncorosync.conf\n');
    expect(parsePvecmStatus(c.run('pve1', 'pvecm status').out)).toMatchObject({ quorate: true, expectedVotes: 2, totalVotes: 2 });
    separate(c, 'pve2');
    expect(parsePvecmStatus(c.run('pve1', 'pvecm status').out)).toMatchObject({ quorate: false, expectedVotes: 2, totalVotes: 1 });
    expect(c.run('pve1', 'pvecm delnode pve2')).toMatchObject({ code: 255, err: 'cluster not ready - no quorum?\n' });
    expect(c.run('pve1', 'pvecm expected 0').code).toBe(255);
    expect(c.run('pve1', 'pvecm expected 1').code).toBe(0);
    expect(parsePvecmStatus(c.run('pve1', 'pvecm status').out)).toMatchObject({ quorate: true, expectedVotes: 1, totalVotes: 1 });
    expect(c.run('pve1', 'pvecm delnode pve2').code).toBe(0);
    expect(parsePvecmStatus(c.run('pve1', 'pvecm status').out)).toMatchObject({ quorate: true, expectedVotes: 1, totalVotes: 1 });
    // votequorum refuses fewer expected votes than those present.
    const three = cluster({ names: ['pve1', 'pve2', 'pve3'] });
    expect(three.run('pve1', 'pvecm expected 2')).toMatchObject({ code: 1, err: expect.stringContaining('CS_ERR_INVALID_PARAM') });
  });
});

describe('Ceph OSDs (pveceph)', () => {
  it('destroys a pool only while no guest disk lives on it; its OSDs then empty at once', () => {
    const disk = { key: 'scsi0', storage: 'ceph-vm', volume: 'vm-100-disk-0', sizeBytes: GiB };
    const c = cluster({ names: ['pve1', 'pve2'], ceph: { osds: { pve1: [0], pve2: [1, 2] }, drainMs: 60_000 }, guests: { pve1: [{ vmid: 100, name: 'on-ceph', type: 'qemu', status: 'running', memBytes: GiB, cores: 1, bridge: 'vmbr3', onboot: true, disks: [disk] }], pve2: [] } });
    expect(c.run('pve1', 'pveceph pool destroy ceph-vm')).toMatchObject({ code: 255, err: 'pool ceph-vm is still in use by vm-100-disk-0\n' });
    c.node('pve1').guests = [];
    expect(c.run('pve2', 'pveceph pool destroy ceph-vm').code).toBe(0);
    expect(c.run('pve1', 'pveceph pool destroy ceph-vm')).toMatchObject({ code: 255, err: 'pool ceph-vm does not exist\n' });
    expect(c.run('pve1', 'ceph osd pool ls detail --format json').out).toBe('[]\n');
    expect(c.run('pve1', 'ceph osd out 0').code).toBe(0);
    expect(c.run('pve1', 'ceph osd safe-to-destroy 0').code).toBe(0);
  });

  it('moves an OSD\'s data once it is out: safe-to-destroy says EBUSY until then; destroy wants it out and stopped', () => {
    const c = cluster({ names: ['pve1', 'pve2', 'pve3'], ceph: { osds: { pve1: [0], pve2: [1, 2], pve3: [3] }, drainMs: 10_000 } });
    const tree = JSON.parse(c.run('pve2', 'ceph osd tree --format json').out) as { nodes: { name: string; type: string; children?: number[]; reweight?: number }[] };
    expect(tree.nodes.filter((n) => n.type === 'host').map((n) => `${n.name}:${n.children!.join(',')}`)).toEqual(['pve1:0', 'pve2:2,1', 'pve3:3']);
    expect(c.run('pve1', 'ceph osd ok-to-stop 0')).toMatchObject({ code: 0, out: expect.stringContaining('are ok to stop') });
    expect(c.run('pve1', 'ceph osd safe-to-destroy 0')).toMatchObject({ code: 16, err: 'Error EBUSY: OSD(s) 0 have 64 pgs currently mapped to them. \n' });
    expect(c.run('pve1', 'pveceph osd destroy 0')).toMatchObject({ code: 255, err: 'osd is in use (in == 1)\n' });
    expect(c.run('pve1', 'ceph osd out 0')).toMatchObject({ code: 0, err: 'marked out osd.0. \n' });
    expect(c.run('pve1', 'ceph osd safe-to-destroy 0').err).toMatch(/have (6[0-3]|5\d) pgs currently mapped/);
    for (let i = 0; i < 10; i++) c.run('pve1', 'hostname'); // time passes: a second per command
    expect(c.run('pve1', 'ceph osd safe-to-destroy 0')).toMatchObject({ code: 0, out: 'OSD(s) 0 are safe to destroy without reducing data durability.\n' });
    expect(c.run('pve1', 'pveceph osd destroy 0')).toMatchObject({ code: 255, err: 'osd is running (up == 1)\n' });
    expect(c.run('pve1', 'systemctl stop ceph-osd@0').code).toBe(0);
    expect(c.run('pve1', 'systemctl is-active ceph-osd@0')).toMatchObject({ code: 3, out: 'inactive\n' });
    expect(c.run('pve1', 'pveceph osd destroy 0').code).toBe(0);
    expect(c.node('pve1').ceph!.osds).toEqual([]);
  });

  it('lets a monitor go only while the others keep a majority', () => {
    const c = cluster({ names: ['pve1', 'pve2', 'pve3'], ceph: { osds: {}, mons: ['pve1', 'pve2'] } });
    expect(JSON.parse(c.run('pve3', 'ceph mon dump --format json').out)).toMatchObject({ mons: [{ name: 'pve1' }, { name: 'pve2' }], quorum: [0, 1] });
    expect(c.run('pve1', 'ceph mon ok-to-rm pve1')).toMatchObject({ code: 0, err: 'quorum should be preserved (pve2) after removing mon.pve1\n' });
    expect(c.run('pve1', 'pveceph mon destroy pve1').code).toBe(0);
    expect(c.run('pve2', 'ceph mon ok-to-rm pve1')).toMatchObject({ code: 0, err: 'mon.pve1 does not exist or has already been removed\n' });
    expect(c.run('pve2', 'ceph mon ok-to-rm pve2')).toMatchObject({ code: 16, err: expect.stringContaining('would break quorum') });
  });

  it('shows the active manager and its standbys', () => {
    const c = cluster({ names: ['pve1', 'pve2'], ceph: { osds: {}, mgrs: ['pve1', 'pve2'] } });
    expect(JSON.parse(c.run('pve2', 'ceph mgr dump --format json').out)).toMatchObject({ active_name: 'pve1', standbys: [{ name: 'pve2' }] });
    expect(c.run('pve1', 'pveceph mgr destroy pve1').code).toBe(0);
    expect(JSON.parse(c.run('pve2', 'ceph mgr dump --format json').out)).toMatchObject({ active_name: 'pve2', standbys: [] });
  });

  it('refuses ok-to-stop when the OSDs left are fewer than the pool\'s min_size', () => {
    const c = cluster({ names: ['pve1', 'pve2'], ceph: { osds: { pve1: [0, 1], pve2: [2] } } });
    expect(c.run('pve1', 'ceph osd out 0').code).toBe(0);
    expect(c.run('pve2', 'ceph osd ok-to-stop 1')).toMatchObject({ code: 16, err: expect.stringContaining('Error EBUSY') });
  });
});
