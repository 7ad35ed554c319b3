/**
 * LVM on the lab's Xen dom0: vgs/lvs in LVM's report formats, lvresize -r refused on the page's read-only root,
 * snapshots that fill as time passes, lvconvert --merge, lvremove. Lab subnet 241 only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setSnapshotFill, writeVolume, type WithLvm } from '../lab/capabilities/lvm/index.js';
import { xenDom0WithGuests } from '../lab/hosts/xen-dom0.js';
import { Lab } from '../lab/lab.js';
import { copies, jobs } from '../common/jobs.js';
import { parseDdBytes, parseUnitState } from '../activities/parsers/jobs.js';
import { sshClient, type SshRun } from './helpers/ssh.js';
import { eventually } from './helpers/runbooks.js';

let lab: Lab;
let dir: string;
const GiB = 1024 ** 3;
const ssh = (command: string): Promise<SshRun> => sshClient(lab.inventory, 'dom0-lvm', command, { dir }).done;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-lab-lvm-'));
  lab = await Lab.start({ dir, subnet: 241, hosts: [xenDom0WithGuests('dom0-lvm', { bootDelayMs: 300, jobBytesPerSecond: GiB })] });
}, 30_000);

afterAll(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('LVM on the Xen dom0', () => {
  it('reports volume groups and volumes as vgs and lvs print them', async () => {
    expect((await ssh('vgs --units b --nosuffix --noheadings -o vg_name,vg_extent_size,vg_free vg0')).stdout)
      .toBe(`  vg0 4194304 ${200 * GiB - 8 * 10 * GiB}\n`);
    const lvs = (await ssh('lvs')).stdout.split('\n');
    expect(lvs[0]).toBe('  LV                  VG  Attr       LSize  Pool Origin Data%  Meta%  Move Log Cpy%Sync Convert');
    expect(lvs).toContain('  guest1_root         vg0 -wi-ao---- 10.00g');
    expect((await ssh('vgs')).stdout).toBe('  VG  #PV #LV #SN Attr   VSize   VFree  \n  vg0   1   8   0 wz--n- 200.00g 120.00g\n'.replace(/ +\n/g, '\n'));
    expect((await ssh('lvs --units b --nosuffix --noheadings -o lv_size vg0/guest1_root')).stdout).toBe(`  ${10 * GiB}\n`);
    expect((await ssh('lvs vg0/nope')).code).toBe(5);
  });

  it('refuses lvresize -r on the read-only root and on a running guest; resizes once remounted rw with the guest stopped', async () => {
    const ro = await ssh('lvresize -r -L +2G /dev/vg0/srvpub_root');
    expect([ro.code, ro.stderr]).toEqual([5, expect.stringContaining('Read-only file system')]);
    expect((await ssh('findmnt --noheadings --output OPTIONS /')).stdout).toBe('ro,relatime,errors=remount-ro\n');
    expect((await ssh('mount -o remount,rw /')).code).toBe(0);
    expect((await ssh('findmnt --noheadings --output OPTIONS /')).stdout).toMatch(/^rw,/);
    expect((await ssh('lvresize -r -L +2G /dev/vg0/srvpub_root')).stderr).toContain('Device or resource busy');
    await ssh('xl destroy srvpub');
    const done = await ssh('lvresize -r -L +2G /dev/vg0/srvpub_root');
    expect(done.stdout).toContain('Size of logical volume vg0/srvpub_root changed from 10.00 GiB (2560 extents) to 12.00 GiB (3072 extents).');
    expect((await ssh('lvresize -r -L +1T /dev/vg0/srvpub_root')).stderr).toMatch(/^ {2}Insufficient free space: 262144 extents needed, but only \d+ available\n$/);
    expect((await ssh('mount -o remount,ro /')).code).toBe(0);
    expect(lab.state<WithLvm>('dom0-lvm').rootReadOnly).toBe(true);
  });

  it('takes a snapshot that fills over time, merges it back, removes one', async () => {
    expect((await ssh('lvcreate -L 1G -s -n guest1_root_snap1 /dev/vg0/guest1_root')).stdout).toBe('  Logical volume "guest1_root_snap1" created.\n');
    writeVolume(lab, 'dom0-lvm', 'vg0/guest1_root', 'guest1_root@v2');
    setSnapshotFill(lab, 'dom0-lvm', 'vg0/guest1_root_snap1', GiB / 16);
    await new Promise((r) => setTimeout(r, 1200));
    const percent = Number((await ssh('lvs --noheadings -o snap_percent vg0/guest1_root_snap1')).stdout.trim());
    expect(percent).toBeGreaterThan(5);
    expect((await ssh('lvs --noheadings -o lv_attr vg0/guest1_root_snap1')).stdout.trim()).toMatch(/^swi-[aI]-s---$/);
    setSnapshotFill(lab, 'dom0-lvm', 'vg0/guest1_root_snap1', 0);
    expect((await ssh('lvconvert --merge /dev/vg0/guest1_root_snap1')).code).toBe(5); // guest1 runs: its origin is open
    await ssh('xl destroy guest1');
    const merged = await ssh('lvconvert --merge /dev/vg0/guest1_root_snap1');
    expect([merged.code, merged.stdout]).toEqual([0, '  Merging of volume vg0/guest1_root_snap1 started.\n  vg0/guest1_root: Merged: 100.00%\n']);
    expect(lab.state<WithLvm>('dom0-lvm').lvm!.lvs.find((l) => l.name === 'guest1_root')!.content).toBe('guest1_root@v1');
    await ssh('lvcreate -L1G -s -n tmp_snap vg0/guest1_root');
    expect((await ssh('lvremove -y /dev/vg0/tmp_snap')).stdout).toBe('  Logical volume "tmp_snap" successfully removed.\n');
  });

  it('runs a long dd | bzip2 as a transient unit that outlives its SSH session, its progress in its log, its exit status kept', async () => {
    const unit = 'runbook-lab-test-dd-1';
    const start = jobs.start(unit, copies.backup('/dev/vg0/srvlan_root', '/srv/backup/srvlan_root.raw.bz2')).text;
    expect(start).toBe(`systemd-run --unit=${unit} --remain-after-exit --quiet --property=StandardError=file:/run/${unit}.log -- bash -o pipefail -c 'dd if=/dev/vg0/srvlan_root bs=1M status=progress | bzip2 -9 > /srv/backup/srvlan_root.raw.bz2'`);
    expect((await ssh(jobs.state(unit).text)).stdout).toContain('LoadState=not-found');
    expect((await ssh(start)).code).toBe(0); // the session ends at once: the job goes on
    expect((await ssh(start)).stderr).toContain('already loaded'); // never twice
    await new Promise((r) => setTimeout(r, 1200));
    const running = parseUnitState((await ssh(jobs.state(unit).text)).stdout);
    expect(running.phase).toBe('running');
    const first = parseDdBytes((await ssh(jobs.log(unit).text)).stdout);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(10 * GiB);
    await new Promise((r) => setTimeout(r, 1200));
    expect(parseDdBytes((await ssh(jobs.log(unit).text)).stdout)).toBeGreaterThan(first);
    await eventually('the job to end', async () => parseUnitState((await ssh(jobs.state(unit).text)).stdout).phase !== 'running' || undefined, 30_000);
    expect(parseUnitState((await ssh(jobs.state(unit).text)).stdout)).toMatchObject({ phase: 'succeeded', exitStatus: 0 });
    expect(parseDdBytes((await ssh(jobs.log(unit).text)).stdout)).toBe(10 * GiB);
    expect((await ssh('stat --format=%s /srv/backup/srvlan_root.raw.bz2')).code).toBe(0);
    expect((await ssh(jobs.stop(unit).text)).code).toBe(0);
    expect((await ssh(jobs.state(unit).text)).stdout).toContain('LoadState=not-found');
    // A backup to the read-only root fails, and says why.
    const bad = 'runbook-lab-test-dd-2';
    await ssh(jobs.start(bad, copies.backup('/dev/vg0/srvlan_root', '/root/x.bz2')).text);
    expect(parseUnitState((await ssh(jobs.state(bad).text)).stdout)).toMatchObject({ phase: 'failed', exitStatus: 1 });
    expect((await ssh(jobs.log(bad).text)).stdout).toContain('Read-only file system');
  });
});
