import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseInventory } from '../common/inventory.js';
import { runControl } from '../lab/control.js';
import { Lab, presets } from '../lab/lab.js';
import { splitWords } from '../lab/words.js';
import { sshClient, type SshRun } from './helpers/ssh.js';

const fixtures = join(import.meta.dirname, 'fixtures', 'outputs');
const fixture = (name: string) => readFileSync(join(fixtures, name), 'utf8');
const UUID = /[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}/g;

let lab: Lab;
let dir: string;

/** OpenSSH's client as an admin would use it against the lab host. */
const ssh = (host: string, command: string, input?: string): Promise<SshRun> => sshClient(lab.inventory, host, command, { dir, input }).done;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-lab-test-'));
  lab = await Lab.start({
    dir,
    subnet: 251,
    hosts: [
      presets.xenDom0Raid1('dom0', { bootDelayMs: 800 }),
      presets.xenDom0Raid1('dom1', { missingSlot: 0, bootDelayMs: 500 }),
    ],
  });
}, 30_000);

afterAll(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('word splitter', () => {
  it('reads what common/shell.ts quote() writes and refuses shell syntax', () => {
    expect(splitWords(`mdadm --detail '/dev/md 0' "a b" c\\ d 'it'\\''s'`)).toEqual(['mdadm', '--detail', '/dev/md 0', 'a b', 'c d', "it's"]);
    for (const bad of ['a | b', 'a; b', 'a && b', 'a > f', 'a < f', 'echo `id`', 'echo $(id)', 'echo "$HOME"', '(a)']) {
      expect(() => splitWords(bad), bad).toThrow(/not simulated/);
    }
    expect(splitWords("echo ';|&'")).toEqual(['echo', ';|&']);
  });
});

describe('lab over real sshd', () => {
  it('publishes a valid simulated inventory with pinned keys', () => {
    const inv = parseInventory(JSON.parse(readFileSync(lab.inventoryPath, 'utf8')));
    expect(inv.simulated).toBe(true);
    expect(inv.hosts.map((h) => [h.name, h.address, h.port, h.user, h.kind])).toEqual([
      ['dom0', '127.0.251.10', 22, 'runbook-lab', 'xen-dom0'],
      ['dom1', '127.0.251.11', 22, 'runbook-lab', 'xen-dom0'],
    ]);
    expect(inv.hosts[0]!.hostKeys.dropbear).toMatch(/^ssh-ed25519 /);
    expect(inv.hosts[0]!.hostKeys.dropbear).not.toBe(inv.hosts[0]!.hostKeys.openssh);
    expect(existsSync(inv.ssh.privateKeyPath)).toBe(true);
    expect(lab.address('dom1')).toBe('127.0.251.11');
  });

  it('prints the real tool formats', async () => {
    const mdstat = await ssh('dom0', 'cat /proc/mdstat');
    expect(mdstat.code).toBe(0);
    expect(mdstat.stdout).toBe(fixture('mdstat-faulty.txt').replace('sda3[0](F)', 'sda3[0]').replace('[2/1] [_U]', '[2/2] [UU]').replace('3/59 pages [12KB]', '0/59 pages [0KB]'));

    const missing = await ssh('dom1', 'cat /proc/mdstat');
    expect(missing.stdout).toContain('md0 : active raid1 sdb2[1]\n      20954112 blocks super 1.2 [2/1] [_U]\n');

    const lsblk = await ssh('dom0', 'lsblk --json --bytes --output NAME,KNAME,PKNAME,TYPE,SIZE,SERIAL,MODEL,FSTYPE');
    expect(JSON.parse(lsblk.stdout).blockdevices[0].children[1].children[0]).toMatchObject({ name: 'md0', pkname: 'sda2', size: 21457010688 });
    // the layout of the text itself, not just the JSON
    expect(lsblk.stdout.slice(0, 200)).toBe(fixture('lsblk.json').slice(0, 200));

    const dump = await ssh('dom0', 'sfdisk --dump /dev/sdb');
    expect(dump.stdout.replace(UUID, 'U')).toBe(fixture('sfdisk-dump.txt').replace(UUID, 'U'));

    const detail = await ssh('dom0', 'mdadm --detail /dev/md1');
    expect(detail.stdout).toContain('             State : clean \n');
    expect(detail.stdout).toContain('       0       8        3        0      active sync   /dev/sda3\n');
    const absent = await ssh('dom0', "mdadm --detail '/dev/md9'");
    expect([absent.code, absent.stderr]).toEqual([1, 'mdadm: cannot open /dev/md9: No such file or directory\n']);

    const boot = await ssh('dom0', 'dd if=/dev/sda bs=440 count=1 status=none');
    expect(boot.raw.length).toBe(440);
    expect(boot.raw.includes('GRUB ')).toBe(true);
    expect((await ssh('dom0', 'hostname')).stdout).toBe('dom0\n');
  });

  it('refuses shell syntax and unknown commands, and audits everything', async () => {
    const unknown = await ssh('dom0', 'frobnicate --now');
    expect([unknown.code, unknown.stderr]).toEqual([127, 'bash: frobnicate: command not found\n']);
    const injected = await ssh('dom0', 'cat /proc/mdstat; reboot');
    expect(injected.code).toBe(2);
    expect(injected.stderr).toMatch(/";" is not simulated/);
    expect(lab.isUp('dom0')).toBe(true);
    const audit = lab.audit('dom0');
    expect(audit.at(-1)).toMatchObject({ stage: 'openssh', command: 'cat /proc/mdstat; reboot', exitCode: 2 });
    expect(audit.at(-2)).toMatchObject({ command: 'frobnicate --now', exitCode: 127 });
    const lines = readFileSync(join(dir, 'audit', 'dom0.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual(audit);
    expect(existsSync(join(dir, 'state', 'dom0.json'))).toBe(true);
  });

  it('runs the disk replacement procedure: fail, remove, hot swap, partition, add, resync', async () => {
    const failed = await ssh('dom0', 'mdadm --manage /dev/md1 --fail /dev/sda3');
    expect([failed.code, failed.stderr]).toEqual([0, fixture('mdadm-fail.stderr.txt')]);
    expect((await ssh('dom0', 'cat /proc/mdstat')).stdout).toBe(fixture('mdstat-faulty.txt'));
    const detail = await ssh('dom0', 'mdadm --detail /dev/md1');
    const mask = (t: string) => t.replace(/Update Time : .*/, 'Update Time : X').replace(/Events : \d+/, 'Events : X');
    expect(mask(detail.stdout)).toBe(mask(fixture('mdadm-detail-degraded.txt')));

    const busy = await ssh('dom0', 'mdadm --manage /dev/md1 --remove /dev/sdb3');
    expect([busy.code, busy.stderr]).toEqual([1, 'mdadm: hot remove failed for /dev/sdb3: Device or resource busy\n']);
    const last = await ssh('dom0', 'mdadm --manage /dev/md1 --fail /dev/sdb3');
    expect(last.code).toBe(1);
    const removed = await ssh('dom0', 'mdadm --manage /dev/md1 --remove /dev/sda3');
    expect([removed.code, removed.stderr]).toEqual([0, fixture('mdadm-remove.stderr.txt')]);
    // the fixture lsblk.json shows this moment (sda3 out of md1), plus the new disk
    const expected = JSON.parse(fixture('lsblk.json'));
    expected.blockdevices.pop();
    const strip = (n: any): any => ({ ...n, size: typeof n.size, children: n.children?.map(strip) });
    const got = JSON.parse((await ssh('dom0', 'lsblk --json --bytes --output NAME,KNAME,PKNAME,TYPE,SIZE,SERIAL,MODEL,FSTYPE')).stdout);
    expect(got.blockdevices.map(strip)).toEqual(expected.blockdevices.map(strip));
    const notIn = await ssh('dom0', 'mdadm --manage /dev/md1 --fail /dev/sda3');
    expect([notIn.code, notIn.stderr]).toEqual([1, 'mdadm: set device faulty failed for /dev/sda3: No such device\n']);
    expect((await ssh('dom0', 'mdadm --manage /dev/md0 --fail /dev/sda2')).code).toBe(0);
    expect((await ssh('dom0', 'mdadm --manage /dev/md0 --remove /dev/sda2')).code).toBe(0);

    // Hot swap: the new disk is sdc, blank.
    lab.swapDisk('dom0', 0, { serial: 'ZR5G6H7J' });
    const lsblk = JSON.parse((await ssh('dom0', 'lsblk --json --bytes --output NAME,KNAME,PKNAME,TYPE,SIZE,SERIAL,MODEL,FSTYPE')).stdout);
    expect(lsblk.blockdevices.map((d: any) => [d.name, d.serial])).toEqual([['sdb', 'ZA1F4D5E'], ['sdc', 'ZR5G6H7J']]);
    expect(lsblk.blockdevices[1]).toEqual(JSON.parse(fixture('lsblk.json')).blockdevices[2]);
    const blank = await ssh('dom0', 'sfdisk -d /dev/sdc');
    expect([blank.code, blank.stderr]).toEqual([1, fixture('sfdisk-dump-blank.stderr.txt')]);
    const zero = await ssh('dom0', 'dd if=/dev/sdc bs=440 count=1 status=none');
    expect(zero.raw).toEqual(Buffer.alloc(440));

    // sfdisk -d /dev/sdb | sfdisk /dev/sdc, as two commands.
    const script = (await ssh('dom0', 'sfdisk -d /dev/sdb')).stdout;
    const refused = await ssh('dom0', 'sfdisk /dev/sdb', script);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('FAILED');
    const written = await ssh('dom0', 'sfdisk /dev/sdc', script);
    expect(written.code).toBe(0);
    expect(written.stdout.replace(UUID, 'U')).toBe(fixture('sfdisk-write.txt').replace(UUID, 'U'));
    expect((await ssh('dom0', 'sfdisk --dump /dev/sdc')).stdout).toContain('/dev/sdc3 : start=    41949184, size= 15586103951, type=A19D880F');

    const add1 = await ssh('dom0', 'mdadm --manage /dev/md1 --add /dev/sdc3');
    expect([add1.code, add1.stderr]).toEqual([0, fixture('mdadm-add.stderr.txt')]);
    expect((await ssh('dom0', 'mdadm --manage /dev/md0 --add /dev/sdc2')).stderr).toBe('mdadm: added /dev/sdc2\n');
    const again = await ssh('dom0', 'mdadm --manage /dev/md0 --add /dev/sdc2');
    expect(again.code).toBe(1);

    const recovering = (await ssh('dom0', 'cat /proc/mdstat')).stdout;
    expect(recovering).toMatch(/md1 : active raid1 sdc3\[2\] sdb3\[1\]\n      7792962560 blocks super 1\.2 \[2\/1\] \[_U\]\n      \[=*>\.*\]  recovery = \d+\.\d% \(\d+\/7792962560\) finish=\d+\.\dmin speed=\d+K\/sec\n      bitmap/);
    expect(recovering).toMatch(/md0 : active raid1 sdc2\[2\] sdb2\[1\]\n      20954112 blocks super 1\.2 \[2\/1\] \[_U\]\n        resync=DELAYED\n/);
    const d1 = (await ssh('dom0', 'mdadm --detail /dev/md1')).stdout;
    expect(d1).toContain('             State : clean, degraded, recovering \n');
    expect(d1).toMatch(/    Rebuild Status : \d+% complete\n/);
    expect(d1).toContain('       2       8       35        0      spare rebuilding   /dev/sdc3\n');

    await until('both arrays in sync', async () => (await ssh('dom0', 'cat /proc/mdstat')).stdout.split('[UU]').length === 3);
    const d0 = (await ssh('dom0', 'mdadm --detail /dev/md0')).stdout;
    expect(d0).toContain('       2       8       34        0      active sync   /dev/sdc2\n');

    const grub = await ssh('dom0', 'grub-install /dev/sdc');
    expect([grub.code, grub.stderr]).toEqual([0, fixture('grub-install.stderr.txt')]);
    expect((await ssh('dom0', 'dd if=/dev/sdc bs=440 count=1 status=none')).raw.includes('GRUB ')).toBe(true);
  }, 30_000);

  it('reboots (down, then up) and can enumerate disks in another order', async () => {
    lab.setRenameOnNextBoot('dom0', true);
    const reboot = await ssh('dom0', 'reboot');
    expect(reboot.code).toBe(0);
    await until('dom0 down', () => !lab.isUp('dom0'), 3000);
    expect((await ssh('dom0', 'hostname')).code).toBe(255);
    await until('dom0 up', () => lab.isUp('dom0'), 5000);
    const lsblk = JSON.parse((await ssh('dom0', 'lsblk --json --bytes --output NAME,KNAME,PKNAME,TYPE,SIZE,SERIAL,MODEL,FSTYPE')).stdout);
    // slot 1 (the old sdb) is now sda, the new disk in slot 0 is sdb
    expect(lsblk.blockdevices.map((d: any) => [d.name, d.serial])).toEqual([['sda', 'ZA1F4D5E'], ['sdb', 'ZR5G6H7J']]);
    expect((await ssh('dom0', 'cat /proc/mdstat')).stdout).toContain('md1 : active raid1 sdb3[2] sda3[1]\n');
  }, 15_000);

  it('powers off until powerOn, and a cold swap is named at boot', async () => {
    expect((await ssh('dom1', 'poweroff')).code).toBe(0);
    await until('dom1 down', () => !lab.isUp('dom1'), 3000);
    lab.swapDisk('dom1', 1, { serial: 'ZCOLD001' });
    await new Promise((r) => setTimeout(r, 900)); // longer than its boot delay: it stays off
    expect(lab.isUp('dom1')).toBe(false);
    await lab.powerOn('dom1');
    expect(lab.isUp('dom1')).toBe(true);
    const lsblk = JSON.parse((await ssh('dom1', 'lsblk --json --bytes --output NAME,KNAME,PKNAME,TYPE,SIZE,SERIAL,MODEL,FSTYPE')).stdout);
    expect(lsblk.blockdevices.map((d: any) => [d.name, d.serial])).toEqual([['sda', 'ZA1E2B3C'], ['sdb', 'ZCOLD001']]);
    // slot 0 was kicked out at boot and slot 1 is a new disk: nothing left in the arrays
    expect(lab.state('dom1').arrays[0]!.members).toEqual([]);
  }, 15_000);

  it('is driven by the runbook-lab CLI over the same socket', async () => {
    // The CLI loads every host kind of lab/hosts/ (each registers its capabilities' operations): build the project.
    const out = join(dir, 'cli-build');
    const root = join(import.meta.dirname, '..');
    execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.json'), '--outDir', out]);
    writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
    // Asynchronous: the lab answering the CLI lives in this very process.
    const cli = (args: string[], labDir = dir) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(out, 'lab', 'cli.js'), ...args], { env: { ...process.env, RUNBOOK_LAB_DIR: labDir } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
      child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    const status = await cli(['status']);
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(/dom0 {2}127\.0\.251\.10 {2}up/);
    const failed = await cli(['fail-disk', 'dom0', '1']);
    expect(failed.status).toBe(0);
    expect(lab.state('dom0').arrays.flatMap((a) => a.members.filter((m) => m.serial === 'ZA1F4D5E').map((m) => m.state))).toEqual(['faulty', 'faulty']);
    const audit = await cli(['audit', 'dom0']);
    expect(audit.stdout).toContain('exit 127  frobnicate --now');
    const swap = await cli(['swap-disk', 'dom0', '1', '--rename-on-boot']);
    expect(swap.stdout).toMatch(/slot 1: new blank disk, serial Z\w+, now sdc/);
    expect((await cli(['power-on', 'nosuch'])).stderr).toContain('unknown lab host nosuch');
    const badSlot = await cli(['fail-disk', 'dom0', 'x']);
    expect([badSlot.status, badSlot.stderr.split('\n')[0]]).toEqual([2, 'runbook-lab: SLOT must be a disk slot number, got x']);
    expect((await cli(['swap-disk', 'dom0', '1', '--bogus'])).status).toBe(2);
    expect((await cli(['--help'])).stdout).toMatch(/^ {2}swap-disk HOST SLOT \[--rename-on-boot\]\n {39}replace the disk in SLOT/m);
    const none = await cli(['status'], join(dir, 'nowhere'));
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('no lab is running');
  }, 20_000);
});

describe('fault injection (runbook-lab slow, in-flight, drop-session)', () => {
  const control = (op: string, args: string[] = [], host?: string) => runControl(lab, { type: 'control', op, args, ...(host ? { host } : {}) });

  it('holds the first TIMES matching commands MS after receiving them, lists them under way, and unslow ends it', async () => {
    await control('slow', ['dom0', '/^cat \\/proc\\/mdstat$/', '1500', '1']);
    const started = Date.now();
    const held = ssh('dom0', 'cat /proc/mdstat');
    await until('the command under way', () => lab.faults.underWay().some((c) => c.host === 'dom0' && c.command === 'cat /proc/mdstat'));
    expect(await control('in-flight')).toEqual([expect.objectContaining({ host: 'dom0', command: 'cat /proc/mdstat', pid: expect.any(Number) })]);
    expect((await held).code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    const fast = Date.now();
    expect((await ssh('dom0', 'cat /proc/mdstat')).code).toBe(0); // only the first one
    expect(Date.now() - fast).toBeLessThan(1500);
    await control('slow', ['any', 'hostname', '60000', 'all']);
    await control('unslow');
    expect((await ssh('dom1', 'hostname')).stdout).toBe('dom1\n');
    await expect(control('slow', ['dom0', '/(/', '10', '1'])).rejects.toThrow(/PATTERN/);
    await expect(control('slow', ['nowhere', 'x', '10', '1'])).rejects.toThrow(/unknown lab host nowhere/);
  });

  it('drop-session kills the SSH session of a held command: the client loses it, the host applies it once', async () => {
    await control('slow', ['dom0', 'reboot', '60000', '1']);
    const before = lab.audit('dom0').length;
    const dropped = ssh('dom0', 'reboot');
    await until('reboot under way', () => lab.faults.underWay().some((c) => c.command === 'reboot'));
    expect(await control('drop-session', ['reboot'], 'dom0')).toEqual({ killed: expect.any(Number) });
    expect((await dropped).code).not.toBe(0);
    expect(lab.audit('dom0').slice(before).map((e) => `${e.command}:${e.exitCode}`)).toEqual(['reboot:0']);
    await until('dom0 back', () => lab.isUp('dom0') && lab.stage('dom0') === 'openssh', 20_000);
  });
});
