// The pure pieces of vmOnboarding: Ganeti's script format parsed, the next reference, the first free address, the
// least-loaded node pair.
import { describe, expect, it } from 'vitest';
import { parseGntInstances, parseGntNodes } from '../activities/parsers/ganeti.js';
import { ParseError } from '../activities/parsers/mdstat.js';
import { firstFreeAddress, leastLoadedPair, nextReference } from '../common/addressing.js';

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
