// The pure pieces of vmOnboarding: Ganeti's script format parsed, the next reference, the first free address, the
// least-loaded node pair; the lab's Ganeti answering in the tools' formats; the member's "install done" reply read.
import { describe, expect, it } from 'vitest';
import { installDoneSaid, threadIdsIn } from '../activities/reply-mail.js';
import { parseGntInstances, parseGntNodes } from '../activities/parsers/ganeti.js';
import { ParseError } from '../activities/parsers/mdstat.js';
import { firstFreeAddress, leastLoadedPair, nextReference } from '../common/addressing.js';
import { simulatorFor } from '../lab/hosts/index.js';
import { presets } from '../lab/lab.js';

describe('Ganeti list output (--no-headers --separator=|)', () => {
  it('reads nodes and instances, lists split on commas', () => {
    expect(parseGntNodes('node1.example.com|30720|1900000|3|1\nnode2.example.com|62000|2000000|0|3\n')).toEqual([
      { name: 'node1.example.com', mfreeMiB: 30720, dfreeMiB: 1900000, pinst: 3, sinst: 1 },
      { name: 'node2.example.com', mfreeMiB: 62000, dfreeMiB: 2000000, pinst: 0, sinst: 3 },
    ]);
    expect(parseGntInstances('ref-host-vm-42.faimaison.net|mutine|fresk|running|11016|89.234.176.130|disk\nx.example|mutine||ADMIN_down|11017||cdrom\n')).toEqual([
      { name: 'ref-host-vm-42.faimaison.net', pnode: 'mutine', snodes: ['fresk'], status: 'running', networkPort: 11016, ips: ['89.234.176.130'], bootOrder: 'disk' },
      { name: 'x.example', pnode: 'mutine', snodes: [], status: 'ADMIN_down', networkPort: 11017, ips: [], bootOrder: 'cdrom' },
    ]);
  });

  it('refuses the table format and units it did not ask for', () => {
    expect(() => parseGntNodes('Node DTotal DFree\nnode1 1.8T 1.7T\n')).toThrow(ParseError);
    expect(() => parseGntNodes('node1|30.0G|1.8T|3|1\n')).toThrow(/mfree/);
  });
});

describe('the members\' address plan', () => {
  it('gives one more than the highest reference ever handed out', () => {
    expect(nextReference([])).toBe('REF-HOST-VM-1');
    expect(nextReference(['REF-HOST-VM-7', 'REF-HOST-VM-42.FAIMAISON.NET', 'REF-VM-99'])).toBe('REF-HOST-VM-43');
  });

  it('takes the first address neither reserved, nor on an instance, nor in DNS; none when the subnet is full', () => {
    expect(firstFreeAddress('89.234.176.128/27', ['89.234.176.129'], ['89.234.176.130'])).toBe('89.234.176.131');
    expect(firstFreeAddress('192.0.2.0/30', ['192.0.2.1'], ['192.0.2.2'])).toBeUndefined();
  });

  it('puts the primary on the node with fewest primaries, the secondary on the least used other one', () => {
    const node = (name: string, pinst: number, sinst: number, mfreeMiB = 1000, dfreeMiB = 1000) => ({ name, pinst, sinst, mfreeMiB, dfreeMiB });
    expect(leastLoadedPair([node('mutine', 3, 0), node('fresk', 1, 2), node('camber', 1, 0)])).toEqual({ primary: 'camber', secondary: 'fresk' });
    expect(leastLoadedPair([node('mutine', 0, 0)])).toBeUndefined();
  });
});

describe('the lab\'s Ganeti: the tools\' formats and refusals', () => {
  const cluster = presets.ganetiCluster({ prepared: true, addMs: 1000 });
  const [master, node] = cluster.hosts.map((h) => ({ ...h.state, power: 'openssh' as const }));
  const lab = { host: (n: string) => [master!, node!].find((h) => h.name === n), hosts: () => [master!, node!] };
  const run = (host: typeof master, line: string, now = Date.now()) => {
    simulatorFor(host!).settle(host!, now); // as the lab does before each command
    const out = simulatorFor(host!).exec(host!, line.split(' '), { now, stage: 'openssh', lab });
    return 'needStdin' in out ? { code: -1, out: '', err: '' } : { code: out.exitCode, out: out.stdout.toString(), err: out.stderr };
  };
  const add = 'gnt-instance add -s 10G --net 0:ip=192.0.2.2,mode=routed,mac=generate -o debootstrap+default --node gnt-master:gnt-node ref-host-vm-1.lab.invalid';

  it('adds an instance once, lists it in the script format, refuses it twice and an unknown node', () => {
    const t0 = Date.now();
    expect(run(master, add, t0).code).toBe(0);
    expect(run(master, 'gnt-instance list --no-headers --separator=| -o name,pnode,snodes,status,network_port,nic.ips,hv/boot_order', t0).out)
      .toBe('ref-host-vm-1.lab.invalid|gnt-master|gnt-node|ADMIN_down|11000|192.0.2.2|cdrom\n');
    expect(run(master, add, t0)).toMatchObject({ code: 1, err: expect.stringContaining("Instance 'ref-host-vm-1.lab.invalid' is already in the cluster") });
    expect(run(master, add.replace('gnt-node ref-host-vm-1', 'gnt-other ref-host-vm-2'), t0)).toMatchObject({ code: 1, err: expect.stringContaining("Node 'gnt-other' not known") });
    expect(run(master, 'gnt-instance list -o +network_port ref-host-vm-1', t0 + 2000).out).toMatch(/^Instance +Hypervisor +OS +Primary_node +Status +Memory +Network_port\nref-host-vm-1\.lab\.invalid +kvm +debootstrap\+default +gnt-master +running +512M +11000\n$/);
    expect(run(master, 'gnt-node list --no-headers --separator=| -o name,mfree,dfree,pinst_cnt,sinst_cnt', t0 + 2000).out).toBe('gnt-master|64000|2086912|1|0\ngnt-node|64512|2086912|0|1\n');
    expect(run(master, 'gnt-instance modify -H boot_order=disk ref-host-vm-1', t0 + 2000).out).toContain(' - hv/boot_order -> disk');
    expect(run(master, 'gnt-instance info ref-host-vm-1.lab.invalid', t0 + 2000).out).toContain('Allocated network port: 11000');
  });

  it('refuses gnt-* off the master, naming it', () => {
    expect(run(node, 'gnt-instance list')).toMatchObject({ code: 1, err: expect.stringContaining("This is not the master node, please connect to node 'gnt-master'") });
  });
});

describe('the member\'s "install done" reply', () => {
  it('says it in its first own lines only, in a few clear phrases, any case', () => {
    expect(installDoneSaid('Install DONE, merci !\n\n> Votre VM est prête')).toBe('Install DONE');
    expect(installDoneSaid('Bonjour,\nL\u2019installation terminée.\n')).toBe('installation terminée');
    expect(installDoneSaid('> install done\nPas encore, demain.')).toBeUndefined();
    expect(installDoneSaid('Bonjour,\nune question.\nUne autre.\nc\'est fait')).toBeUndefined();
    expect(installDoneSaid("c'est fait")).toBe("c'est fait");
    expect(installDoneSaid('reinstall donedone')).toBeUndefined();
  });

  it('names the thread by In-Reply-To then References (newest first), bounded and without junk', () => {
    const head = 'From: a@b\r\nIn-Reply-To: <ready@runbooks>\r\nReferences: <req@lab.invalid>\r\n <ready@runbooks> junk <x>y>\r\nSubject: Re';
    expect(threadIdsIn(head)).toEqual(['<ready@runbooks>', '<x>', '<req@lab.invalid>']);
    expect(threadIdsIn(`References: ${Array.from({ length: 1000 }, (_, i) => `<${i}@x>`).join(' ')}`)).toHaveLength(20);
    expect(threadIdsIn('Subject: none')).toEqual([]);
  });
});
