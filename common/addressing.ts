/**
 * The members' address plan and references, worked out in workflow code (pure, deterministic): the next free
 * REF-HOST-VM-N and the first free address of the members' subnet.
 */

const toInt = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
const toIp = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');

/**
 * The first address of `network` (CIDR) that is neither its network nor broadcast address, nor reserved, nor used
 * (by an instance, or by a DNS record); undefined when the subnet is full.
 */
export function firstFreeAddress(network: string, reserved: readonly string[], used: readonly string[]): string | undefined {
  const [base, bits] = network.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = toInt(base!) - (toInt(base!) % size);
  const taken = new Set([...reserved, ...used]);
  for (let n = start + 1; n < start + size - 1; n++) if (!taken.has(toIp(n))) return toIp(n);
  return undefined;
}

/** The page's references: REF-HOST-VM-42. Never one handed out before: one more than the highest in use. */
export function nextReference(inUse: readonly string[], prefix = 'REF-HOST-VM-'): string {
  const numbers = inUse.map((r) => new RegExp(`^${prefix}(\\d+)\\b`, 'i').exec(r)?.[1]).filter((n): n is string => n !== undefined).map(Number);
  return `${prefix}${Math.max(0, ...numbers) + 1}`;
}

/**
 * The page's "hyperviseur le moins chargé": the primary is the node with the fewest primary instances (then the
 * most free memory); the secondary, among the others, the one with the fewest instances of either kind (then the
 * most free disk). Names break ties, so the choice is the same on replay and for people reading the plan.
 */
export function leastLoadedPair(nodes: readonly { name: string; mfreeMiB: number; dfreeMiB: number; pinst: number; sinst: number }[]): { primary: string; secondary: string } | undefined {
  if (nodes.length < 2) return undefined;
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const primary = [...nodes].sort((a, b) => a.pinst - b.pinst || b.mfreeMiB - a.mfreeMiB || byName(a, b))[0]!;
  const secondary = nodes.filter((n) => n.name !== primary.name).sort((a, b) => a.pinst + a.sinst - (b.pinst + b.sinst) || b.dfreeMiB - a.dfreeMiB || byName(a, b))[0]!;
  return { primary: primary.name, secondary: secondary.name };
}
