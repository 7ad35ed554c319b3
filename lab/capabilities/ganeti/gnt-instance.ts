/**
 * `gnt-instance` on the master, as the page uses it: `list` (default fields, `-o +network_port`, the script format
 * with --no-headers --separator), `info`, `add` (slow: disks, then the OS install; the instance is in the cluster's
 * configuration from the start, as Ganeti adds it before installing), `shutdown`, `startup`,
 * `modify -H boot_order=…` and `migrate [-f] [-n NODE]` (DRBD: the primary and the secondary swap; any other target is
 * refused as Ganeti refuses it; the VNC port stays). Refusals as Ganeti words them: an instance that exists, a node it does not know.
 */
import { fail, ok, type CommandResult, type ExecContext } from '../../core/types.js';
import { clusterNodes, listTable, mebibytes, notMaster, prereq, type Field, type GntInstance, type WithGaneti } from './cluster.js';

const FIELDS: Record<string, Field<GntInstance>> = {
  name: (i) => i.name,
  hypervisor: (i) => i.hypervisor,
  os: (i) => i.os,
  pnode: (i) => i.pnode,
  snodes: (i) => i.snode,
  status: (i) => i.status,
  admin_state: (i) => (i.status === 'running' ? 'up' : 'down'),
  oper_ram: (i) => (i.status === 'running' ? i.maxmemMiB : '-'),
  'be/maxmem': (i) => i.maxmemMiB,
  disk_usage: (i) => i.diskMiB,
  network_port: (i) => String(i.networkPort),
  'nic.ips': (i) => i.ips.join(','),
  'hv/boot_order': (i) => i.bootOrder,
};
const HEADERS: Record<string, string> = {
  name: 'Instance', hypervisor: 'Hypervisor', os: 'OS', pnode: 'Primary_node', snodes: 'Secondary_Nodes', status: 'Status',
  admin_state: 'InstanceState', oper_ram: 'Memory', 'be/maxmem': 'ConfigMaxMem', disk_usage: 'DiskUsage', network_port: 'Network_port',
  'nic.ips': 'NIC_IPs', 'hv/boot_order': 'hv/boot_order',
};
const DEFAULTS = ['name', 'hypervisor', 'os', 'pnode', 'status', 'oper_ram'];
const FIRST_PORT = 11000;
const DEFAULT_ADD_MS = 3000;

/** An instance by its name or the short name Ganeti expands. */
function find(state: WithGaneti, name: string | undefined): GntInstance | undefined {
  return (state.ganeti!.instances ?? []).find((i) => i.name === name || i.name.startsWith(`${name}.`));
}

interface AddRequest { name: string; pnode: string; snode: string; os: string; diskMiB: number; maxmemMiB: number; ips: string[] }

function parseAdd(args: string[]): AddRequest | CommandResult {
  const req: Partial<AddRequest> = { ips: [], maxmemMiB: 512 };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => args[++i] ?? '';
    if (a === '-s' || a === '--os-size') req.diskMiB = mebibytes(value()) ?? NaN;
    else if (a === '-o' || a === '--os-type') req.os = value();
    else if (a === '-n' || a === '--node') [req.pnode, req.snode] = value().split(':');
    else if (a === '--net') {
      const ip = /(?:^|[:,])ip=([^,]+)/.exec(value())?.[1];
      if (ip) req.ips!.push(ip);
    } else if (a === '-B') req.maxmemMiB = mebibytes(/maxmem=([^,]+)/.exec(value())?.[1] ?? '') ?? NaN;
    else if (a === '-t') value();
    else if (a.startsWith('-')) return fail(2, `Usage: gnt-instance add [options...] <instance-name>\n\ngnt-instance: error: no such option: ${a}\n`);
    else positional.push(a);
  }
  if (positional.length !== 1) return fail(2, 'Usage: gnt-instance add [options...] <instance-name>\n\ngnt-instance: error: Error: Wrong number of arguments\n');
  if (!req.os) return prereq('wrong_input', 'No guest OS or OS variant specified');
  if (!req.diskMiB || Number.isNaN(req.diskMiB) || Number.isNaN(req.maxmemMiB!)) return fail(1, 'Failure: Invalid size given\n');
  if (!req.pnode || !req.snode) return prereq('wrong_input', 'The networked disk templates need a mirror node');
  return { ...req, name: positional[0]! } as AddRequest;
}

/** Checks, then the instance in the configuration (being created until `readyAt`). The job's output, or a refusal. */
export function addInstance(state: WithGaneti, args: string[], ctx: ExecContext): { result: CommandResult; durationMs: number } {
  const refused = notMaster(state);
  const parsed = refused ?? parseAdd(args);
  if ('exitCode' in parsed) return { result: parsed, durationMs: 0 };
  const req = parsed;
  const g = state.ganeti!;
  const nodes = clusterNodes(state, ctx.lab).map((n) => n.name);
  const no = (r: CommandResult) => ({ result: r, durationMs: 0 });
  if (find(state, req.name)) return no(prereq('wrong_input', `Instance '${req.name}' is already in the cluster`));
  for (const node of [req.pnode, req.snode]) if (!nodes.includes(node)) return no(prereq('unknown_entity', `Node '${node}' not known`));
  if (req.pnode === req.snode) return no(prereq('wrong_input', 'The secondary node cannot be the primary node'));
  const taken = (g.instances ?? []).find((i) => i.ips.some((ip) => req.ips.includes(ip)));
  if (taken) return no(prereq('wrong_input', `IP address ${req.ips.join(',')} already in use by instance '${taken.name}'`));
  const ports = new Set((g.instances ?? []).map((i) => i.networkPort));
  let port = FIRST_PORT;
  while (ports.has(port)) port += 1;
  const durationMs = g.addMs ?? DEFAULT_ADD_MS;
  (g.instances ??= []).push({
    name: req.name, pnode: req.pnode, snode: req.snode, os: req.os, hypervisor: 'kvm', status: 'ADMIN_down', maxmemMiB: req.maxmemMiB,
    diskMiB: req.diskMiB, ips: req.ips, networkPort: port, bootOrder: 'cdrom', readyAt: ctx.now + durationMs,
  });
  const out = [
    '* creating instance disks...',
    `adding instance ${req.name} to cluster config`,
    `adding disks to cluster config`,
    ` - INFO: Waiting for instance ${req.name} to sync disks`,
    ` - INFO: Instance ${req.name}'s disks are in sync`,
    '* running the instance OS create scripts...',
    '* starting instance...',
  ].map((l) => `${new Date(ctx.now).toUTCString()} ${l}\n`).join('');
  return { result: ok(out), durationMs };
}

/** `gnt-instance add …` run as a detached job (systemd-run … bash -c '…'): the script's words. */
function info(state: WithGaneti, name: string | undefined): CommandResult {
  const i = find(state, name);
  if (!i) return prereq('unknown_entity', `Instance '${name ?? ''}' not known`);
  const up = i.status === 'running' ? 'up' : 'down';
  return ok([
    `- Instance name: ${i.name}`,
    `  State: configured to be ${up}, actual state is ${up}`,
    '  Nodes:',
    `    - primary: ${i.pnode}`,
    `    - secondaries: ${i.snode}`,
    `  Operating system: ${i.os}`,
    `  Allocated network port: ${i.networkPort}`,
    '  Hypervisor: kvm',
    '  Hypervisor parameters:',
    `    boot_order: ${i.bootOrder}`,
    `    vnc_bind_address: 0.0.0.0`,
    '  Back-end parameters:',
    `    maxmem: ${i.maxmemMiB}`,
    '  NICs:',
    `    - nic/0: ip: ${i.ips[0] ?? 'None'}, mode: routed`,
    '  Disk template: drbd',
    '  Disks:',
    `    - disk/0: drbd, size ${(i.diskMiB / 1024).toFixed(1)}G`,
    '',
  ].join('\n'));
}

/** shutdown, startup and modify: the instance must be created (its add job ended). */
function change(state: WithGaneti, verb: string, args: string[]): CommandResult | null {
  const name = args[args.length - 1];
  const i = find(state, name);
  if (!i) return prereq('unknown_entity', `Instance '${name ?? ''}' not known`);
  if (i.readyAt !== undefined) return fail(1, `Failure: command execution error:\nInstance '${i.name}' is being created: its job holds the lock\n`);
  if (verb === 'shutdown' && args.length === 1) {
    i.status = 'ADMIN_down';
    delete i.bootedFrom;
    return ok();
  }
  if (verb === 'startup' && args.length === 1) {
    if (i.status !== 'running') Object.assign(i, { status: 'running', bootedFrom: i.bootOrder });
    return ok();
  }
  if (verb === 'modify' && args.length === 3 && args[0] === '-H') {
    const order = /^boot_order=(cdrom|disk|network)$/.exec(args[1]!)?.[1] as GntInstance['bootOrder'] | undefined;
    if (!order) return fail(1, `Failure: prerequisites not met for this operation:\nerror type: wrong_input, error details:\nInvalid hypervisor parameter '${args[1]}'\n`);
    i.bootOrder = order;
    return ok(`Modified instance ${i.name}\n - hv/boot_order -> ${order}\nPlease don't forget that most parameters take effect only at the next (re)start of the instance initiated by ganeti; restarting from within the instance will not be enough.\n`);
  }
  return null;
}

/** The live migration's feedback (Ganeti's TLMigrateInstance._ExecMigration), one line per phase. */
const migrateLines = (name: string, from: string, to: string) => [
  `Migrating instance ${name}`, '* checking disk consistency between source and target', `* switching node ${to} to secondary mode`,
  '* changing into standalone mode', '* changing disks into dual-master mode', '* wait until resync is done',
  `* preparing ${to} to accept the instance`, `* migrating instance to ${to}`, `* switching node ${from} to secondary mode`,
  '* wait until resync is done', '* changing into standalone mode', '* changing disks into single-master mode', '* wait until resync is done', '* done',
];

/** `migrate [-f] [-n NODE] INSTANCE`: a running DRBD instance moves to its secondary, which becomes its primary. */
function migrate(state: WithGaneti, args: string[], ctx: ExecContext): CommandResult {
  let force = false;
  let target: string | undefined;
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-f' || a === '--force') force = true;
    else if (a === '-n' || a === '--target-node') target = args[++i] ?? '';
    else if (a.startsWith('-')) return fail(2, `Usage: gnt-instance migrate [options...] <instance-name>\n\ngnt-instance: error: no such option: ${a}\n`);
    else positional.push(a);
  }
  if (positional.length !== 1) return fail(2, 'Usage: gnt-instance migrate [options...] <instance-name>\n\ngnt-instance: error: Error: Wrong number of arguments\n');
  const i = find(state, positional[0]);
  if (!i) return prereq('unknown_entity', `Instance '${positional[0]}' not known`);
  // Without -f the cli asks on the terminal; over a non-interactive ssh nobody answers.
  if (!force) return fail(1, `Instance ${i.name} will be migrated. Note that migration might impact the instance if anything goes wrong (e.g. due to bugs in the hypervisor). Continue?\ny/[n]/?: Aborted.\n`);
  if (target !== undefined && !clusterNodes(state, ctx.lab).some((n) => n.name === target)) return prereq('unknown_entity', `Node '${target}' not known`);
  if (i.readyAt !== undefined) return fail(1, `Failure: command execution error:\nInstance '${i.name}' is being created: its job holds the lock\n`);
  if (target !== undefined && target !== i.snode) {
    return prereq('wrong_input', 'Instances with disk template drbd cannot be migrated to arbitrary nodes (neither an iallocator nor a target node can be passed)');
  }
  // Ganeti asks the primary whether the instance is migratable: a stopped one is not (no fallback to failover without --allow-failover).
  if (i.status !== 'running') return prereq('wrong_state', `Can't migrate, please use failover: Instance ${i.name} is not running`);
  const from = i.pnode;
  Object.assign(i, { pnode: i.snode, snode: from });
  return ok(migrateLines(i.name, from, i.pnode).map((l) => `${new Date(ctx.now).toUTCString()} ${l}\n`).join(''));
}

export function gntInstance(state: WithGaneti, args: string[], ctx: ExecContext): CommandResult | null {
  if (!state.ganeti) return null;
  const refused = notMaster(state);
  if (refused) return refused;
  const [verb, ...rest] = args;
  switch (verb) {
    case 'list': return listTable(state.ganeti.instances ?? [], rest, FIELDS, DEFAULTS, HEADERS, 'instance');
    case 'info': return rest.length === 1 ? info(state, rest[0]) : null;
    case 'add': {
      const { result, durationMs } = addInstance(state, rest, ctx);
      return result.exitCode ? result : { ...result, replyAfterMs: durationMs };
    }
    case 'shutdown': case 'startup': case 'modify': return change(state, verb, rest);
    case 'migrate': return migrate(state, rest, ctx);
    default: return null;
  }
}
