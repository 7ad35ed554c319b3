/**
 * The Proxmox simulator creates a member's VM as the onboarding runbook does (page "Création de VMs"): qm create with
 * the ISO and the VNC args, the firewall IPSet and options through pvesh, the boot order switched to the disk; the
 * errors of the real tools. First on the simulator alone, then over SSH on a prepared lab cluster (lab subnet 229).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseClusterResources, parseGuestConfig } from '../activities/parsers/proxmox.js';
import { matchGroupBlock } from '../common/commands.js';
import { sh } from '../common/shell.js';
import { Lab, presets } from '../lab/lab.js';
import type { ProxmoxNodeState } from '../lab/hosts/proxmox-node.js';
import { pveCluster } from './helpers/pve-sim.js';
import { sshClient, type SshRun } from './helpers/ssh.js';

const GiB = 2 ** 30;
const ISO = 'local:iso/debian-12.5.0-amd64-netinst.iso';

/** The argv the lab's dispatcher gives for the runbook's qm create (the `;` and the args value are single items). */
function createArgv(vmid: number, o: { name?: string; storage?: string; gib?: number; extra?: string[] } = {}): string[] {
  return [
    'qm', 'create', String(vmid), '--name', o.name ?? `REF-VM-${vmid - 2000}`, '--memory', '1024', '--cores', '1', '--sockets', '1',
    '--ostype', 'l26', '--scsihw', 'virtio-scsi-pci', '--net0', 'virtio,bridge=vmbr3,firewall=1',
    '--scsi0', `${o.storage ?? 'lvm_noluks_shared'}:${o.gib ?? 20}`, '--ide2', `${ISO},media=cdrom`, '--boot', 'order=ide2;scsi0',
    '--args', `-vnc 127.0.0.1:${vmid - 1000}`, ...(o.extra ?? []),
  ];
}

const fw = (node: string, vmid: number, sub: string) => `/nodes/${node}/qemu/${vmid}/firewall${sub}`;

describe('qm create, set, start of a member VM (simulator)', () => {
  it('creates a stopped VM with its ISO, boot order and VNC args, seen at once by the cluster', () => {
    const c = pveCluster();
    const before = parseClusterResources(c.run('gueuza', 'pvesh get /cluster/resources --output-format json').out);
    const created = c.run('skumenn', createArgv(2012));
    expect(created).toEqual({ out: '  Logical volume "vm-2012-disk-0" created.\n', err: '', code: 0 });
    expect(c.where(2012)).toBe('skumenn');
    expect(c.guest(2012)).toMatchObject({ status: 'stopped', args: '-vnc 127.0.0.1:1012', bootOrder: 'order=ide2;scsi0', cdrom: ISO, ostype: 'l26', memBytes: GiB, cores: 1, bridge: 'vmbr3' });

    const config = c.run('skumenn', 'qm config 2012');
    expect(config.code).toBe(0);
    const lines = config.out.trimEnd().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual(['args', 'boot', 'cores', 'ide2', 'memory', 'name', 'net0', 'numa', 'onboot', 'ostype', 'scsi0', 'scsihw', 'sockets', 'vmgenid']);
    expect(lines).toEqual(expect.arrayContaining([
      'args: -vnc 127.0.0.1:1012', 'boot: order=ide2;scsi0', `ide2: ${ISO},media=cdrom`, 'memory: 1024', 'name: REF-VM-12',
      'scsi0: lvm_noluks_shared:vm-2012-disk-0,size=20G', 'onboot: 0', 'sockets: 1',
    ]));
    expect(lines.find((l) => l.startsWith('net0: '))).toMatch(/^net0: virtio=BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2},bridge=vmbr3,firewall=1$/);
    expect(parseGuestConfig(config.out).disks).toEqual(expect.arrayContaining([{ key: 'scsi0', storage: 'lvm_noluks_shared', volume: 'vm-2012-disk-0', size: '20G', sizeBytes: 20 * GiB }]));
    // An existing guest's config is unchanged by the new fields.
    expect(c.run('skumenn', 'qm config 2001').out).toContain('boot: order=virtio0;net0\n');
    expect(c.run('skumenn', 'qm config 2001').out).not.toContain('args:');

    const after = parseClusterResources(c.run('kurun', 'pvesh get /cluster/resources --output-format json').out);
    expect(after.guests.find((g) => g.vmid === 2012)).toMatchObject({ node: 'skumenn', status: 'stopped', maxmem: GiB, maxcpu: 1 });
    const used = (r: typeof before) => r.storages.find((s) => s.node === 'kurun' && s.storage === 'lvm_noluks_shared')!.usedBytes!;
    expect(used(after) - used(before)).toBe(20 * GiB);
  });

  it('boots from the cdrom, then from the disk once qm set switched the boot order', () => {
    const c = pveCluster();
    expect(c.run('skumenn', createArgv(2012)).code).toBe(0);
    expect(c.run('skumenn', 'qm start 2012')).toMatchObject({ code: 0, out: '' });
    expect(c.run('skumenn', 'qm status 2012').out).toBe('status: running\n');
    expect(c.guest(2012).bootedFrom).toBe('cdrom');
    expect(c.run('skumenn', 'qm shutdown 2012').code).toBe(0);
    expect(c.guest(2012).bootedFrom).toBeUndefined();
    expect(c.run('skumenn', 'qm set 2012 --boot order=scsi0')).toEqual({ out: 'update VM 2012: -boot order=scsi0\n', err: '', code: 0 });
    expect(c.run('skumenn', 'qm config 2012').out).toContain('boot: order=scsi0\n');
    expect(c.run('skumenn', 'qm start 2012').code).toBe(0);
    expect(c.guest(2012).bootedFrom).toBe('disk');
    // The other options qm set takes, logged sorted by name as PVE does.
    expect(c.run('skumenn', ['qm', 'set', '2012', '--onboot', '1', '--args', '-vnc 127.0.0.1:1099', '--ide2', 'none,media=cdrom']).out)
      .toBe('update VM 2012: -args -vnc 127.0.0.1:1099 -ide2 none,media=cdrom -onboot 1\n');
    expect(c.guest(2012)).toMatchObject({ onboot: true, args: '-vnc 127.0.0.1:1099' });
    expect(c.guest(2012).cdrom).toBeUndefined();
    expect(c.run('skumenn', 'qm set 2012 --memory 2048')).toMatchObject({ code: 255, err: 'Unknown option: memory\n400 unable to parse option\nqm set <vmid> [OPTIONS]\n' });
    expect(c.run('gueuza', 'qm set 2012 --boot order=scsi0')).toMatchObject({ code: 255, err: "Configuration file 'nodes/gueuza/qemu-server/2012.conf' does not exist\n" });
  });

  it('refuses a VMID in use anywhere, an unknown storage, a full VG, no quorum and bad options, creating nothing', () => {
    const c = pveCluster();
    const count = () => c.states.flatMap((s) => s.guests).length;
    expect(c.run('skumenn', createArgv(2012)).code).toBe(0);
    const n = count();
    expect(c.run('gueuza', createArgv(2012))).toEqual({ out: '', err: "unable to create VM 2012 - VM 2012 already exists on node 'skumenn'\n", code: 255 });
    expect(c.run('skumenn', createArgv(1102)).err).toBe("unable to create VM 1102 - CT 1102 already exists on node 'gueuza'\n");
    expect(c.run('skumenn', createArgv(2013, { storage: 'lvm_nope' })).err).toBe("unable to create VM 2013 - storage 'lvm_nope' does not exist\n");
    // skumenn's local thin pool: 300 GiB, 30 used by REF-VM-10 → 270 GiB free = 69120 extents of 4 MiB.
    expect(c.run('skumenn', createArgv(2013, { storage: 'lvmthin_luks_local', gib: 500 }))).toEqual({
      out: '', code: 255,
      err: 'unable to create VM 2013 - lvcreate \'vg_local_luks/vm-2013-disk-0\' error:   Volume group "vg_local_luks" has insufficient free space (69120 extents): 128000 required.\n',
    });
    expect(c.run('skumenn', createArgv(2013, { extra: ['--foo', '1'] })).err).toBe('Unknown option: foo\n400 unable to parse option\nqm create <vmid> [OPTIONS]\n');
    expect(c.run('skumenn', createArgv(2013, { name: 'REF VM;13' })).err).toBe('400 Parameter verification failed.\nname: invalid format - value does not look like a valid DNS name\nqm create <vmid> [OPTIONS]\n');
    expect(c.run('skumenn', [...createArgv(2013), '--memory', 'lots']).err).toContain("memory: type check ('integer') failed - got 'lots'\n");
    c.node('gueuza').power = 'down';
    c.node('kurun').power = 'down';
    expect(c.run('skumenn', createArgv(2013))).toMatchObject({ code: 255, err: 'cluster not ready - no quorum?\n' });
    expect(c.run('skumenn', 'qm set 2012 --boot order=scsi0')).toMatchObject({ code: 255, err: 'cluster not ready - no quorum?\n' });
    expect(count()).toBe(n);
    // The thin pool's room taken by a created disk counts for the next one.
    c.node('gueuza').power = 'openssh';
    expect(c.run('skumenn', createArgv(2013, { storage: 'lvmthin_luks_local', gib: 260 })).code).toBe(0);
    expect(c.run('skumenn', createArgv(2014, { storage: 'lvmthin_luks_local', gib: 20 })).err).toContain('(2560 extents): 5120 required.\n');
  });

  it('lists the ISO images of a node\'s local storage; a create with an image the node lacks is refused before any disk', () => {
    const c = pveCluster();
    const isos = (node: string) => (JSON.parse(c.run(node, ['pvesh', 'get', `/nodes/${node}/storage/local/content`, '--content', 'iso', '--output-format', 'json']).out) as { volid: string }[]).map((v) => v.volid);
    expect(isos('gueuza')).toContain(ISO);
    // Through another node: pvesh proxies the path to the node it names.
    expect(c.run('skumenn', ['pvesh', 'get', '/nodes/gueuza/storage/local/content', '--content', 'iso', '--output-format', 'json']).code).toBe(0);
    expect(c.run('gueuza', ['pvesh', 'get', '/nodes/gueuza/storage/lvm_noluks_shared/content', '--content', 'iso', '--output-format', 'json']).out).toBe('[]\n');
    expect(c.run('gueuza', ['pvesh', 'get', '/nodes/gueuza/storage/nope/content', '--output-format', 'json'])).toMatchObject({ code: 255, err: "storage 'nope' does not exist\n" });
    expect(c.run('gueuza', `pvesm free ${ISO}`)).toEqual({ out: '', err: '', code: 0 });
    expect(isos('gueuza')).not.toContain(ISO);
    expect(isos('kurun')).toContain(ISO); // `local` is each node's own
    expect(c.run('gueuza', `pvesm free ${ISO}`)).toMatchObject({ code: 255, err: `volume '${ISO}' does not exist\n` });
    const volumes = c.node('gueuza').luks!.volumes.map((v) => v.lvCount);
    expect(c.run('gueuza', createArgv(2015))).toEqual({ out: '', err: `unable to create VM 2015 - volume '${ISO}' does not exist\n`, code: 255 });
    expect(c.where(2015)).toBeUndefined();
    expect(c.node('gueuza').luks!.volumes.map((v) => v.lvCount)).toEqual(volumes);
    expect(c.run('kurun', createArgv(2015)).code).toBe(0);
    expect(c.run('kurun', ['qm', 'set', '2015', '--ide2', 'local:iso/other.iso,media=cdrom'])).toMatchObject({ code: 255, err: "volume 'local:iso/other.iso' does not exist\n" });
  });
});

describe('pvesh: the guest firewall and the node status (simulator)', () => {
  it('creates the IPSet ipfilter-net0 with the IP and sets the options, each refused when repeated or unknown', () => {
    const c = pveCluster();
    expect(c.run('skumenn', createArgv(2012)).code).toBe(0);
    const run = (verb: string, path: string, ...rest: string[]) => c.run('skumenn', ['pvesh', verb, path, ...rest, ...(verb === 'get' ? ['--output-format', 'json'] : [])]);
    expect(run('get', fw('skumenn', 2012, '/ipset'))).toEqual({ out: '[]\n', err: '', code: 0 });
    expect(run('create', fw('skumenn', 2012, '/ipset'), '--name', 'ipfilter-net0')).toEqual({ out: '', err: '', code: 0 });
    expect(run('create', fw('skumenn', 2012, '/ipset'), '--name', 'ipfilter-net0')).toEqual({ out: '', err: "IPSet 'ipfilter-net0' already exists\n", code: 255 });
    const sets = JSON.parse(run('get', fw('skumenn', 2012, '/ipset')).out) as { name: string; digest: string }[];
    expect(sets).toEqual([{ name: 'ipfilter-net0', digest: expect.stringMatching(/^[0-9a-f]{40}$/) }]);
    expect(run('get', fw('skumenn', 2012, '/ipset/ipfilter-net0')).out).toBe('[]\n');
    expect(run('create', fw('skumenn', 2012, '/ipset/ipfilter-net0'), '--cidr', '192.0.2.3')).toEqual({ out: '', err: '', code: 0 });
    const entries = JSON.parse(run('get', fw('skumenn', 2012, '/ipset/ipfilter-net0')).out) as { cidr: string; digest: string }[];
    expect(entries).toEqual([{ cidr: '192.0.2.3', digest: expect.stringMatching(/^[0-9a-f]{40}$/) }]);
    expect(entries[0]!.digest).not.toBe(sets[0]!.digest); // the file changed
    expect(run('create', fw('skumenn', 2012, '/ipset/ipfilter-net0'), '--cidr', '192.0.2.3')).toMatchObject({ code: 255, err: expect.stringMatching(/^400 Parameter verification failed\.\ncidr: address '192\.0\.2\.3' already exists\n/) });
    expect(run('create', fw('skumenn', 2012, '/ipset/ipfilter-net0'), '--cidr', '192.0.2.300').err).toContain('cidr: invalid format');
    expect(run('get', fw('skumenn', 2012, '/ipset/other'))).toEqual({ out: '', err: "no such IPSet 'other'\n", code: 255 });
    expect(run('create', fw('skumenn', 2012, '/ipset/other'), '--cidr', '192.0.2.4')).toMatchObject({ code: 255, err: "no such IPSet 'other'\n" });

    const options = fw('skumenn', 2012, '/options');
    expect(JSON.parse(run('get', options).out)).toEqual({ digest: expect.stringMatching(/^[0-9a-f]{40}$/) });
    expect(run('set', options, '--enable', '1', '--macfilter', '1', '--ipfilter', '1', '--dhcp', '0', '--radv', '0', '--policy_in', 'ACCEPT')).toEqual({ out: '', err: '', code: 0 });
    expect(JSON.parse(run('get', options).out)).toEqual({ dhcp: 0, enable: 1, ipfilter: 1, macfilter: 1, policy_in: 'ACCEPT', radv: 0, digest: expect.stringMatching(/^[0-9a-f]{40}$/) });
    const bad = run('set', options, '--enable', '1', '--firewall', '1', '--policy_in', 'ALLOW');
    expect(bad.code).toBe(255);
    expect(bad.err).toMatch(/^400 Parameter verification failed\.\n/);
    expect(bad.err).toContain('firewall: property is not defined in schema and the schema does not allow additional properties\n');
    expect(bad.err).toContain("policy_in: value 'ALLOW' does not have a value in the enumeration 'ACCEPT, REJECT, DROP'\n");
    expect(c.guest(2012).firewall!.options.policy_in).toBe('ACCEPT'); // a refused set changes nothing

    // The path's node must be the guest's; the firewall follows the guest when it migrates.
    expect(run('get', fw('gueuza', 2012, '/ipset'))).toEqual({ out: '', err: "Configuration file 'nodes/gueuza/qemu-server/2012.conf' does not exist\n", code: 255 });
    expect(run('get', fw('nowhere', 2012, '/ipset')).err).toContain("hostname lookup 'nowhere' failed");
    expect(c.run('skumenn', 'qm migrate 2012 gueuza').code).toBe(0);
    const moved = JSON.parse(c.run('kurun', ['pvesh', 'get', fw('gueuza', 2012, '/ipset/ipfilter-net0'), '--output-format', 'json']).out) as { cidr: string }[];
    expect(moved.map((e) => e.cidr)).toEqual(['192.0.2.3']);
    expect(run('get', fw('skumenn', 2012, '/ipset')).code).toBe(255);
    // /etc/pve is read-only without quorum.
    c.node('skumenn').power = 'down';
    c.node('kurun').power = 'down';
    expect(c.run('gueuza', ['pvesh', 'set', fw('gueuza', 2012, '/options'), '--enable', '0'])).toEqual({ out: '', err: "cfs-lock 'firewall-2012' error: cluster not ready - no quorum?\n", code: 255 });
    expect(c.guest(2012).firewall!.options.enable).toBe(1);
  });

  it('answers the node status with cores per socket, threads and memory', () => {
    const c = pveCluster();
    const status = JSON.parse(c.run('skumenn', 'pvesh get /nodes/gueuza/status --output-format json').out) as Record<string, any>;
    expect(status.cpuinfo).toEqual({ cores: 6, sockets: 2, cpus: 24, model: 'Intel(R) Xeon(R) CPU E5645 @ 2.40GHz', mhz: '2400.000' });
    expect(status.memory.total).toBe(64 * GiB);
    expect(status.memory.used + status.memory.free).toBe(64 * GiB);
    expect(status.uptime).toBeGreaterThan(0);
    expect(c.run('skumenn', 'pvesh set /nodes/gueuza/status --foo 1').err).toBe("No 'set' handler defined for '/nodes/gueuza/status'\n");
    c.node('kurun').power = 'down';
    expect(c.run('skumenn', 'pvesh get /nodes/kurun/status --output-format json').err).toBe("proxy handler failed: 500 Can't connect to 10.10.10.26:8006 (No route to host)\n");
  });

  it('a prepared cluster has the members\' group and Match block; an older state without sshd fields still answers', () => {
    const prepared = pveCluster({ prepared: true });
    expect(prepared.run('kurun', 'getent group ref-host-vm')).toMatchObject({ code: 0, out: 'ref-host-vm:x:1001:\n' });
    expect(prepared.run('kurun', 'cat /etc/ssh/sshd_config').out).toContain(`${matchGroupBlock('ref-host-vm')}\n`);
    expect(prepared.run('kurun', 'sshd -t').code).toBe(0);
    expect(pveCluster().run('kurun', 'getent group ref-host-vm').code).toBe(2);
    const old = pveCluster();
    for (const s of old.states as Partial<ProxmoxNodeState>[]) { delete s.groups; delete s.sshFiles; delete s.sshdRunning; delete s.sshReloads; delete s.sockets; }
    expect(old.run('skumenn', 'qm list').code).toBe(0);
    expect(JSON.parse(old.run('skumenn', 'pvesh get /nodes/skumenn/status --output-format json').out).cpuinfo.sockets).toBe(2);
  });
});

describe('over SSH on a prepared lab cluster', () => {
  let lab: Lab;
  let dir: string;
  const ssh = (host: string, command: string): Promise<SshRun> => sshClient(lab.inventory, host, command, { dir }).done;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-lab-pve-'));
    lab = await Lab.start({ dir, subnet: 229, ...presets.proxmoxCluster({ cluster: 'lpve', names: ['lpve1', 'lpve2'], prepared: true, bootDelayMs: 300, guests: { lpve1: [], lpve2: [] } }) });
  }, 60_000);

  afterAll(async () => {
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs the runbook\'s commands as sh builds them, each in the audit log', async () => {
    const create = sh`qm create ${2012} --name ${'REF-VM-12'} --memory ${1024} --cores ${1} --sockets 1 --ostype l26 --scsihw virtio-scsi-pci --net0 ${'virtio,bridge=vmbr3,firewall=1'} --scsi0 ${'lvm_noluks_shared:20'} --ide2 ${`${ISO},media=cdrom`} --boot ${'order=ide2;scsi0'} --args ${'-vnc 127.0.0.1:1012'}`;
    expect(await ssh('lpve1', create.text)).toMatchObject({ code: 0, stdout: '  Logical volume "vm-2012-disk-0" created.\n' });
    expect((await ssh('lpve2', create.text)).stderr).toBe("unable to create VM 2012 - VM 2012 already exists on node 'lpve1'\n");
    expect((await ssh('lpve2', 'qm config 2012')).code).toBe(255);
    expect((await ssh('lpve1', 'qm config 2012')).stdout).toContain('args: -vnc 127.0.0.1:1012\nboot: order=ide2;scsi0\n');
    expect((await ssh('lpve1', sh`pvesh create ${fw('lpve1', 2012, '/ipset')} --name ipfilter-net0`.text)).code).toBe(0);
    expect((await ssh('lpve1', sh`pvesh create ${fw('lpve1', 2012, '/ipset/ipfilter-net0')} --cidr ${'192.0.2.3'}`.text)).code).toBe(0);
    expect((await ssh('lpve1', sh`pvesh set ${fw('lpve1', 2012, '/options')} --enable 1 --macfilter 1 --ipfilter 1 --dhcp 0 --radv 0 --policy_in ACCEPT`.text)).code).toBe(0);
    expect((await ssh('lpve1', 'qm start 2012')).code).toBe(0);
    expect(lab.state<ProxmoxNodeState>('lpve1').guests[0]).toMatchObject({ bootedFrom: 'cdrom', firewall: { ipsets: [{ name: 'ipfilter-net0', cidrs: ['192.0.2.3'] }] } });
    expect((await ssh('lpve1', 'getent group ref-host-vm')).stdout).toBe('ref-host-vm:x:1001:\n');
    expect(lab.audit('lpve1').map((e) => [e.command.split(' ').slice(0, 2).join(' '), e.exitCode])).toEqual([
      ['qm create', 0], ['qm config', 0], ['pvesh create', 0], ['pvesh create', 0], ['pvesh set', 0], ['qm start', 0], ['getent group', 0],
    ]);
    expect(lab.audit('lpve1')[0]!.command).toBe(create.text);
    expect(lab.audit('lpve2').map((e) => e.exitCode)).toEqual([255, 255]);
  }, 60_000);
});
