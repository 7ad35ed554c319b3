/**
 * "Ordre d'arrêt des VMs": guests stop in batches computed from their dependencies, so that a guest stops only
 * after every guest that depends on it has stopped (clients, then public servers, then private servers, then the
 * firewall), and they start again in the reverse order. Pure code: the workflow computes it.
 */

export interface GuestDependencies {
  name: string;
  dependsOn: readonly string[];
}

export class DependencyError extends Error {
  override name = 'DependencyError';
}

/** A cycle as its names in order, the first repeated at the end ("a → b → a"), or undefined. */
export function findCycle(guests: readonly GuestDependencies[]): string[] | undefined {
  const edges = new Map(guests.map((g) => [g.name, g.dependsOn]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === 'done') return undefined;
    if (state.get(name) === 'visiting') return [...path.slice(path.indexOf(name)), name];
    state.set(name, 'visiting');
    path.push(name);
    for (const next of edges.get(name) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const g of guests) {
    const cycle = visit(g.name);
    if (cycle) return cycle;
  }
  return undefined;
}

/** Refuse a graph that names an unknown guest or has a cycle, with a message a person can act on. */
export function checkDependencies(guests: readonly GuestDependencies[]): void {
  const names = new Set(guests.map((g) => g.name));
  for (const g of guests) {
    for (const d of g.dependsOn) {
      if (!names.has(d)) throw new DependencyError(`guest "${g.name}" depends on "${d}", which is not a guest of this host`);
      if (d === g.name) throw new DependencyError(`guest "${g.name}" depends on itself`);
    }
  }
  const cycle = findCycle(guests);
  if (cycle) throw new DependencyError(`the guests' dependencies have a cycle: ${cycle.join(' → ')}; no order can stop them safely`);
}

/**
 * The shutdown batches for the guests that run now. Guests that run but are not in the graph are taken as
 * clients and stop in the first batch (the page gives unknown guests a low weight). Guests of the graph that
 * do not run still order the others (a → b → c with b stopped keeps a before c).
 */
export function shutdownBatches(guests: readonly GuestDependencies[], running: readonly string[]): string[][] {
  checkDependencies(guests);
  const dependents = new Map<string, Set<string>>(guests.map((g) => [g.name, new Set()]));
  for (const g of guests) for (const d of g.dependsOn) dependents.get(d)!.add(g.name);
  const batches: string[][] = [];
  const stopped = new Set<string>();
  while (stopped.size < guests.length) {
    const batch = guests.filter((g) => !stopped.has(g.name) && [...dependents.get(g.name)!].every((x) => stopped.has(x))).map((g) => g.name);
    batch.forEach((name) => stopped.add(name));
    batches.push(batch);
  }
  const known = new Set(guests.map((g) => g.name));
  const isRunning = new Set(running);
  const unknown = running.filter((name) => !known.has(name)).sort();
  const ordered = batches.map((b) => b.filter((name) => isRunning.has(name)).sort());
  if (unknown.length) ordered.unshift(unknown);
  return ordered.filter((b) => b.length > 0);
}

/** The guests that depend on `name`, directly or through others: they lose it while it is stopped. Sorted. */
export function dependantsOf(guests: readonly GuestDependencies[], name: string): string[] {
  const found = new Set<string>();
  const visit = (target: string): void => {
    for (const g of guests) if (g.dependsOn.includes(target) && !found.has(g.name)) { found.add(g.name); visit(g.name); }
  };
  visit(name);
  return [...found].sort();
}
