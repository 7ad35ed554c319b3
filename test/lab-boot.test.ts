/**
 * The lab's boot stages and LUKS: a LUKS root boots through Debian's real dropbear (its own host key), the
 * initramfs answers only boot_id and cryptroot-unlock, then OpenSSH; cryptsetup and friends in the running
 * system; hosts that never come back; no lab file ever holds a passphrase. Lab subnet 212 only.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseInventory } from '../common/inventory.js';
import { spawnTethered } from '../common/tether.js';
import { Lab, presets } from '../lab/lab.js';
import { luksState, luksVolume, type LuksState, type WithLuks } from '../lab/capabilities/luks/index.js';
import { readLines, send, type ControlReply, type ControlRequest } from '../lab/protocol.js';
import { sshClient, type SshRun } from './helpers/ssh.js';

const ROOT_KEY = 'root passphrase 1';
const LUN_KEY = 'fma lun passphrase';
const SHARED_KEY = 'shared lun passphrase';
const NEW_SHARED_KEY = 'rotated shared passphrase';
const SECRETS = [ROOT_KEY, LUN_KEY, SHARED_KEY, NEW_SHARED_KEY];
const MPATH = '/dev/mapper/36005076802810cce880000000000002d';
const BOOT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}\n$/;

let lab: Lab;
let dir: string;
let stray: ChildProcess | null = null;

/** ssh as the runbooks do: strict host key checking against the key pinned for `stage`. */
const ssh = (host: string, command: string, input = '', stage: 'openssh' | 'dropbear' = 'openssh'): Promise<SshRun> =>
  sshClient(lab.inventory, host, command, { dir, input, stage }).done;
const initramfs = (host: string, command: string, input = '') => ssh(host, command, input, 'dropbear');

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A control request over the lab socket, as the runbook-lab CLI sends it. */
function control(message: Omit<ControlRequest, 'type'>): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(lab.socketPath);
    socket.on('error', reject);
    socket.on('connect', () => send(socket, { type: 'control', ...message }));
    readLines(socket, (reply) => { socket.end(); resolve(reply as ControlReply); });
  });
}

const luksOf = (host: string): LuksState => lab.state<WithLuks>(host).luks!;

function filesUnder(path: string): string[] {
  return readdirSync(path).flatMap((name) => {
    const full = join(path, name);
    const st = statSync(full);
    return st.isDirectory() ? filesUnder(full) : st.isFile() ? [full] : [];
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-lab-boot-'));
  // A dropbear left behind by a lab that died, on the address our first host gets: the lab must kill it.
  const strayKey = join(dir, 'stray_key');
  execFileSync('dropbearkey', ['-t', 'ed25519', '-f', strayKey], { stdio: 'ignore' });
  stray = spawnTethered('/usr/sbin/dropbear', ['-F', '-E', '-s', '-p', '127.0.212.10:22', '-r', strayKey, '-P', join(dir, 'stray.pid'), '-c', '/bin/false forced-command.js'], { detached: true, stdio: 'ignore' });
  await until('the stray dropbear', () => new Promise((resolve) => {
    const s = connect({ host: '127.0.212.10', port: 22 });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  }), 5000);

  const enc = presets.xenDom0Raid1('enc', { bootDelayMs: 300 });
  (enc.state as WithLuks).luks = luksState([
    luksVolume({ uuid: '43b0c19b-977b-4fc7-838a-c38494a7681c', paths: ['/dev/sda5'], name: 'sda5_crypt', root: true, vg: 'pve', lvCount: 3, partuuid: '46a561e0-05', passphrases: [ROOT_KEY] }),
    luksVolume({ uuid: 'b93272fd-e26f-407f-aa3b-a85c388e89ab', paths: ['/dev/sdb', '/dev/sde'], name: 'vg_shared_luks', vg: 'vg_shared_luks', passphrases: [SHARED_KEY], slots: 2 }),
    luksVolume({ uuid: '0c5a3449-73bd-4e2b-a00f-d807b1bb74ad', paths: ['/dev/sdd', '/dev/sdg', MPATH], name: 'vg_fma_luks', vg: 'vg_fma_luks', passphrases: [LUN_KEY] }),
  ], { unlockBootDelayMs: 300 });
  const plain = presets.xenDom0Raid1('plain', { bootDelayMs: 300 });
  plain.guests = [{ name: 'dns1', dependsOn: [] }, { name: 'www', dependsOn: ['dns1'] }];
  lab = await Lab.start({ dir, subnet: 212, hosts: [enc, plain], clusters: [{ name: 'xen-pair', kind: 'xen', hosts: ['enc', 'plain'] }] });
}, 60_000);

afterAll(async () => {
  await lab?.stop();
  if (stray?.pid && stray.exitCode === null && stray.signalCode === null) process.kill(-stray.pid, 'SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('lab boot stages', () => {
  it('kills a stale lab dropbear on its addresses, and publishes guests, clusters and both host keys', async () => {
    await until('the stray dropbear to die', () => stray!.exitCode !== null || stray!.signalCode !== null, 3000);
    const inv = parseInventory(JSON.parse(readFileSync(lab.inventoryPath, 'utf8')));
    expect(inv.clusters).toEqual([{ name: 'xen-pair', kind: 'xen', hosts: ['enc', 'plain'] }]);
    expect(inv.hosts[1]!.guests).toEqual([{ name: 'dns1', dependsOn: [] }, { name: 'www', dependsOn: ['dns1'] }]);
    expect(inv.hosts[0]!.guests).toBeUndefined();
    expect(inv.hosts[0]!.hostKeys.dropbear).toMatch(/^ssh-ed25519 /);
    expect(lab.stage('plain')).toBe('openssh');
    // dropbear reads the lab user's own authorized_keys, shared by every lab: ours is there, tagged with our dir.
    const keys = readFileSync('/var/lib/runbook-lab/.ssh/authorized_keys', 'utf8');
    expect(keys).toContain(` runbook-lab:${dir}\n`);
  });

  it('boots a LUKS root into dropbear, with its own host key, answering only the initramfs commands', async () => {
    expect(lab.stage('enc')).toBe('dropbear');
    expect(lab.isUp('enc')).toBe(true);
    const wrongKey = await ssh('enc', 'hostname');
    expect(wrongKey.code).toBe(255);
    expect(wrongKey.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);

    const bootId = await initramfs('enc', 'cat /proc/sys/kernel/random/boot_id');
    expect(bootId.code).toBe(0);
    expect(bootId.stdout).toMatch(BOOT_ID);
    const other = await initramfs('enc', 'hostname');
    expect([other.code, other.stderr]).toEqual([127, 'sh: hostname: not found\n']);
    expect((await initramfs('enc', 'cryptsetup luksOpen --key-file=- /dev/sda5 sda5_crypt', ROOT_KEY)).code).toBe(127);

    // The askpass takes every byte: a trailing newline is part of the passphrase, so this is a wrong try.
    const newline = await initramfs('enc', 'cryptroot-unlock', `${ROOT_KEY}\n`);
    expect([newline.code, newline.stderr]).toEqual([1, 'cryptsetup: ERROR: sda5_crypt: cryptsetup failed, bad password or options?\n']);
    expect(luksOf('enc').unlockTries).toBe(1);
    expect(lab.luksAccepts('enc', 'sda5_crypt', ROOT_KEY)).toBe(true);
    expect(lab.luksAccepts('enc', 'sda5_crypt', `${ROOT_KEY}\n`)).toBe(false);

    const unlocked = await initramfs('enc', 'cryptroot-unlock', ROOT_KEY);
    expect([unlocked.code, unlocked.stdout]).toEqual([0, 'cryptsetup: sda5_crypt set up successfully\n']);
    await until('OpenSSH after the unlock', () => lab.stage('enc') === 'openssh' && lab.isUp('enc'), 5000);

    // The same boot: the boot id did not change; dropbear's key is now the wrong one.
    const after = await ssh('enc', 'cat /proc/sys/kernel/random/boot_id');
    expect(after.stdout).toBe(bootId.stdout);
    expect((await initramfs('enc', 'cat /proc/sys/kernel/random/boot_id')).code).toBe(255);
    expect(lab.audit('enc').map((e) => [e.stage, e.command, e.exitCode])).toEqual([
      ['dropbear', 'cat /proc/sys/kernel/random/boot_id', 0],
      ['dropbear', 'hostname', 127],
      ['dropbear', 'cryptsetup luksOpen --key-file=- /dev/sda5 sda5_crypt', 127],
      ['dropbear', 'cryptroot-unlock', 1],
      ['dropbear', 'cryptroot-unlock', 0],
      ['openssh', 'cat /proc/sys/kernel/random/boot_id', 0],
    ]);
  }, 30_000);

  it('prints blkid, crypttab, dmsetup and cryptsetup status as the real tools do', async () => {
    const blkid = await ssh('enc', 'blkid -t TYPE=crypto_LUKS');
    expect([blkid.code, blkid.stdout]).toEqual([0, [
      '/dev/sda5: UUID="43b0c19b-977b-4fc7-838a-c38494a7681c" TYPE="crypto_LUKS" PARTUUID="46a561e0-05"',
      '/dev/sdb: UUID="b93272fd-e26f-407f-aa3b-a85c388e89ab" TYPE="crypto_LUKS"',
      '/dev/sdd: UUID="0c5a3449-73bd-4e2b-a00f-d807b1bb74ad" TYPE="crypto_LUKS"',
      '/dev/sde: UUID="b93272fd-e26f-407f-aa3b-a85c388e89ab" TYPE="crypto_LUKS"',
      '/dev/sdg: UUID="0c5a3449-73bd-4e2b-a00f-d807b1bb74ad" TYPE="crypto_LUKS"',
      `${MPATH}: UUID="0c5a3449-73bd-4e2b-a00f-d807b1bb74ad" TYPE="crypto_LUKS"`,
      '',
    ].join('\n')]);
    const none = await ssh('plain', 'blkid -t TYPE=crypto_LUKS');
    expect([none.code, none.stdout, none.stderr]).toEqual([2, '', '']);

    expect((await ssh('enc', 'cat /etc/crypttab')).stdout).toBe([
      '# <target name> <source device> <key file> <options>',
      'sda5_crypt UUID=43b0c19b-977b-4fc7-838a-c38494a7681c none luks,discard,initramfs',
      'vg_shared_luks UUID=b93272fd-e26f-407f-aa3b-a85c388e89ab none luks,noauto',
      'vg_fma_luks UUID=0c5a3449-73bd-4e2b-a00f-d807b1bb74ad none luks,noauto',
      '',
    ].join('\n'));
    const dm = await ssh('enc', 'dmsetup ls --target crypt');
    expect([dm.code, dm.stdout]).toEqual([0, 'sda5_crypt\t(254:0)\n']);

    const active = await ssh('enc', 'cryptsetup status sda5_crypt');
    expect(active.code).toBe(0);
    expect(active.stdout).toMatch(/^\/dev\/mapper\/sda5_crypt is active and is in use\.\n {2}type: {4}LUKS1\n[^]*  device: {2}\/dev\/sda5\n/);
    const inactive = await ssh('enc', 'cryptsetup status vg_fma_luks');
    expect([inactive.code, inactive.stdout]).toEqual([4, '/dev/mapper/vg_fma_luks is inactive.\n']);
  });

  it('opens network LUNs with luksOpen (whole stdin is the key with --key-file=-) and activates their VGs', async () => {
    const tested = await ssh('enc', `cryptsetup luksOpen --test-passphrase --key-file=- ${MPATH}`, LUN_KEY);
    expect(tested.code).toBe(0);
    expect((await ssh('enc', `cryptsetup luksOpen --test-passphrase --key-file=- ${MPATH}`, 'nope')).code).toBe(2);
    expect(luksOf('enc').volumes[2]!.open).toBe(false);

    const newline = await ssh('enc', `cryptsetup luksOpen --key-file=- ${MPATH} vg_fma_luks`, `${LUN_KEY}\n`);
    expect([newline.code, newline.stderr]).toEqual([2, 'No key available with this passphrase.\n']);
    const opened = await ssh('enc', `cryptsetup luksOpen --key-file=- ${MPATH} vg_fma_luks`, LUN_KEY);
    expect([opened.code, opened.stdout, opened.stderr]).toEqual([0, '', '']);
    const again = await ssh('enc', `cryptsetup luksOpen --key-file=- /dev/sdd vg_fma_luks`, LUN_KEY);
    expect([again.code, again.stderr]).toEqual([5, 'Device vg_fma_luks already exists.\n']);
    const nodev = await ssh('enc', 'cryptsetup luksOpen --key-file=- /dev/sdz lun', LUN_KEY);
    expect([nodev.code, nodev.stderr]).toEqual([4, 'Device /dev/sdz does not exist or access denied.\n']);
    expect((await ssh('enc', 'cryptsetup status vg_fma_luks')).stdout).toContain(`  device:  ${MPATH}\n`);
    expect((await ssh('enc', 'dmsetup ls --target crypt')).stdout).toBe('sda5_crypt\t(254:0)\nvg_fma_luks\t(254:2)\n');

    const vg = await ssh('enc', 'vgchange -ay');
    expect([vg.code, vg.stdout]).toEqual([0, '  3 logical volume(s) in volume group "pve" now active\n  1 logical volume(s) in volume group "vg_fma_luks" now active\n']);
    const missing = await ssh('enc', 'vgchange -ay vg_shared_luks');
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain('Volume group "vg_shared_luks" not found');
    expect(luksOf('enc').volumes[2]).toMatchObject({ open: true, vgActive: true });
    expect((await ssh('enc', 'vgs --noheadings -o vg_name,lv_count')).stdout).toBe('  pve           3\n  vg_fma_luks   1\n');
  });

  it('rotates keys: luksAddKey (old and new on stdin, one per line), luksRemoveKey, never the last key', async () => {
    const wrongOld = await ssh('enc', 'cryptsetup luksAddKey /dev/sdb', `not it\n${NEW_SHARED_KEY}\n`);
    expect([wrongOld.code, wrongOld.stderr]).toEqual([2, 'No key available with this passphrase.\n']);
    const added = await ssh('enc', 'cryptsetup luksAddKey /dev/sdb', `${SHARED_KEY}\n${NEW_SHARED_KEY}\n`);
    expect([added.code, added.stderr]).toEqual([0, '']);
    expect(lab.luksAccepts('enc', 'vg_shared_luks', NEW_SHARED_KEY)).toBe(true);
    const full = await ssh('enc', 'cryptsetup luksAddKey /dev/sde', `${SHARED_KEY}\nthird\n`);
    expect([full.code, full.stderr]).toEqual([1, 'All key slots full.\n']);
    expect((await ssh('enc', 'cryptsetup luksOpen --test-passphrase --key-file=- /dev/sde', NEW_SHARED_KEY)).code).toBe(0);

    expect((await ssh('enc', 'cryptsetup luksRemoveKey --key-file=- /dev/sdb', 'not it')).code).toBe(2);
    const removed = await ssh('enc', 'cryptsetup luksRemoveKey --key-file=- /dev/sdb', SHARED_KEY);
    expect([removed.code, removed.stderr]).toEqual([0, '']);
    expect(lab.luksAccepts('enc', 'vg_shared_luks', SHARED_KEY)).toBe(false);
    const last = await ssh('enc', 'cryptsetup luksRemoveKey --key-file=- /dev/sdb', NEW_SHARED_KEY);
    expect(last.code).toBe(1);
    expect(last.stderr).toContain('This is the last keyslot');
    expect(lab.luksAccepts('enc', 'vg_shared_luks', NEW_SHARED_KEY)).toBe(true);
  });

  it('closes every volume at boot; 3 wrong passphrases leave the initramfs stuck until a power cycle', async () => {
    const before = (await ssh('enc', 'cat /proc/sys/kernel/random/boot_id')).stdout;
    expect((await ssh('enc', 'reboot')).code).toBe(0);
    await until('enc down', () => lab.stage('enc') === 'down', 3000);
    expect(luksOf('enc').volumes.map((v) => [v.name, v.open, v.vgActive])).toEqual([
      ['sda5_crypt', false, false], ['vg_shared_luks', false, false], ['vg_fma_luks', false, false],
    ]);
    await until('enc in dropbear', () => lab.stage('enc') === 'dropbear' && lab.isUp('enc'), 5000);
    const bootId = (await initramfs('enc', 'cat /proc/sys/kernel/random/boot_id')).stdout;
    expect(bootId).toMatch(BOOT_ID);
    expect(bootId).not.toBe(before);

    for (const attempt of [1, 2]) {
      const wrong = await initramfs('enc', 'cryptroot-unlock', `wrong ${attempt}`);
      expect([wrong.code, wrong.stderr]).toEqual([1, 'cryptsetup: ERROR: sda5_crypt: cryptsetup failed, bad password or options?\n']);
    }
    const third = await initramfs('enc', 'cryptroot-unlock', 'wrong 3');
    expect(third.code).toBe(1);
    expect(third.stderr).toBe('cryptsetup: ERROR: sda5_crypt: cryptsetup failed, bad password or options?\ncryptsetup: ERROR: sda5_crypt: maximum number of tries exceeded\n');
    const right = await initramfs('enc', 'cryptroot-unlock', ROOT_KEY);
    expect([right.code, right.stderr]).toEqual([1, 'cryptsetup: ERROR: sda5_crypt: maximum number of tries exceeded\n']);
    await new Promise((r) => setTimeout(r, 800)); // longer than the unlock boot delay: nothing moves
    expect(lab.stage('enc')).toBe('dropbear');

    const cycled = await control({ op: 'power-cycle', host: 'enc' });
    expect(cycled).toEqual({ ok: true, result: { power: 'dropbear' } });
    expect(luksOf('enc').unlockTries).toBe(0);
    const newBoot = (await initramfs('enc', 'cat /proc/sys/kernel/random/boot_id')).stdout;
    expect(newBoot).not.toBe(bootId);
    expect((await initramfs('enc', 'cryptroot-unlock', ROOT_KEY)).code).toBe(0);
    await until('OpenSSH after the unlock', () => lab.stage('enc') === 'openssh' && lab.isUp('enc'), 5000);
    expect((await ssh('enc', 'cat /proc/sys/kernel/random/boot_id')).stdout).toBe(newBoot);
    expect((await ssh('enc', 'dmsetup ls --target crypt')).stdout).toBe('sda5_crypt\t(254:0)\n');
  }, 30_000);

  it('keeps a host that never comes back down until power-on', async () => {
    expect(await control({ op: 'never-comes-back', host: 'plain' })).toEqual({ ok: true, result: null });
    expect(lab.state('plain').neverComesBack).toBe(true);
    expect((await ssh('plain', 'reboot')).code).toBe(0);
    await until('plain down', () => lab.stage('plain') === 'down', 3000);
    await new Promise((r) => setTimeout(r, 900)); // three boot delays
    expect(lab.isUp('plain')).toBe(false);
    const status = await control({ op: 'status' });
    expect(status.ok && (status.result as { hosts: { name: string; neverComesBack?: boolean }[] }).hosts[1]).toMatchObject({ name: 'plain', neverComesBack: true, up: false });
    // a reset does not help a dead host either
    expect(await control({ op: 'power-cycle', host: 'plain' })).toEqual({ ok: true, result: { power: 'down' } });
    expect(await control({ op: 'power-on', host: 'plain' })).toEqual({ ok: true, result: { power: 'openssh' } });
    expect(lab.state('plain').neverComesBack).toBeUndefined();
    expect((await ssh('plain', 'hostname')).stdout).toBe('plain\n');
    const unknown = await control({ op: 'never-comes-back', host: 'nosuch' });
    expect(unknown).toEqual({ ok: false, error: 'unknown lab host nosuch' });
  }, 15_000);

  it('writes no passphrase to any lab file (state, audit, logs)', () => {
    const files = filesUnder(dir);
    expect(files.some((f) => f.endsWith(join('state', 'enc.json')))).toBe(true);
    expect(files.some((f) => f.endsWith('enc.dropbear.log'))).toBe(true);
    expect(readFileSync(join(dir, 'state', 'enc.json'), 'utf8')).toContain('"keySlots"');
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const secret of SECRETS) expect(bytes.includes(secret), `${file} holds a passphrase`).toBe(false);
    }
  });

  it('stops its dropbear and takes its key out of the shared authorized_keys, and only its own', async () => {
    const keysFile = '/var/lib/runbook-lab/.ssh/authorized_keys';
    const otherLab = mkdtempSync(join(tmpdir(), 'runbook-lab-other-'));
    try {
      // Another live lab's key, added as that lab would: it must survive our stop.
      const { addDropbearKey, removeDropbearKey } = await import('../lab/sshd.js');
      addDropbearKey('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2x0qzd3hDnsW0zvhmn2R6Y2XMFbqvHGXMAdN4k3F9L other', otherLab);
      const pidFile = join(dir, 'run', 'enc.dropbear.pid');
      await lab.powerCycle('enc'); // back in dropbear, to stop it there
      const pid = Number(readFileSync(pidFile, 'utf8'));
      await lab.stop();
      expect(existsSync(pidFile)).toBe(false);
      expect(() => process.kill(pid, 0)).toThrow();
      const keys = readFileSync(keysFile, 'utf8');
      expect(keys).not.toContain(`runbook-lab:${dir}\n`);
      expect(keys).toContain(`runbook-lab:${otherLab}\n`);
      removeDropbearKey(otherLab);
    } finally {
      rmSync(otherLab, { recursive: true, force: true });
    }
  }, 15_000);
});
