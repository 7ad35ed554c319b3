/**
 * pvesh: the API paths the runbooks use. `get` answers JSON (`--output-format json`, the only format simulated);
 * `create`/`set` take `--name value` parameters and print nothing on success. A path under another node is that
 * node's answer (pvesh proxies it), refused when the node is unknown or down.
 */
import { fail, ok, type CommandResult, type ExecContext } from '../../core/types.js';
import { NO_QUORUM } from './cli.js';
import { clusterNodes, isosOf, online, quorumOf, type PveNodeState } from './cluster.js';
import { guestFirewall } from './firewall.js';
import { confPath, renderNodeStatus, renderResources, renderStorageCfg } from './render.js';

const VERBS = ['get', 'create', 'set'];

/** `--name value` pairs, and whether `--output-format json` was among them. */
function parseParams(rest: string[]): { params: Map<string, string>; json: boolean } | string {
  const params = new Map<string, string>();
  let json = false;
  for (let i = 0; i < rest.length; i += 2) {
    const name = rest[i]!;
    const value = rest[i + 1];
    if (!name.startsWith('--') || name.length < 3) return `400 unable to parse option '${name}'\n`;
    if (value === undefined) return '400 not enough arguments\n';
    if (name === '--output-format') {
      if (value !== 'json') return `runbook-lab: pvesh: the lab simulates only --output-format json\n`;
      json = true;
    } else params.set(name.slice(2), value);
  }
  return { params, json };
}

/** The node a /nodes/NODE/... path names, as this node reaches it. */
function nodeOf(state: PveNodeState, name: string, ctx: ExecContext): PveNodeState | CommandResult {
  const node = clusterNodes(state, ctx.lab).find((n) => n.name === name);
  if (!node) return fail(255, `hostname lookup '${name}' failed - failed to get address info for: ${name}: Name or service not known\n`);
  if (node !== state && !online(node)) return fail(255, `proxy handler failed: 500 Can't connect to ${node.address}:8006 (No route to host)\n`);
  return node;
}
const isNode = (x: PveNodeState | CommandResult): x is PveNodeState => 'guests' in x;

export function cmdPvesh(state: PveNodeState, args: string[], ctx: ExecContext): CommandResult {
  const [verb = '', path = '', ...rest] = args;
  const parsed = parseParams(rest);
  if (typeof parsed === 'string') return fail(255, parsed);
  if (!VERBS.includes(verb) || !path.startsWith('/') || (verb === 'get' && !parsed.json)) {
    return fail(255, 'runbook-lab: pvesh: the lab simulates "pvesh get PATH --output-format json", "pvesh create PATH --k v…" and "pvesh set PATH --k v…"\n');
  }
  const noHandler = fail(255, `No '${verb}' handler defined for '${path}'\n`);
  if (verb === 'get' && path === '/cluster/resources') return ok(renderResources(state, ctx.lab, ctx.now));
  if (verb === 'get' && path === '/storage') return ok(renderStorageCfg(state));
  const m = /^\/nodes\/([^/]+)(\/.*)$/.exec(path);
  if (!m) return noHandler;
  const [, nodeName = '', below = ''] = m;
  const fwPath = /^\/(qemu|lxc)\/(\d+)\/firewall(\/.*)$/.exec(below);
  const contentPath = /^\/storage\/([^/]+)\/content$/.exec(below);
  if (below !== '/status' && !fwPath && !contentPath) return noHandler;
  const node = nodeOf(state, nodeName, ctx);
  if (!isNode(node)) return node;
  if (below === '/status') return verb === 'get' ? ok(renderNodeStatus(node, ctx.now)) : noHandler;
  if (contentPath) return verb === 'get' ? storageContent(node, contentPath[1]!, parsed.params.get('content')) : noHandler;
  const [, type = '', vmid = '', sub = ''] = fwPath!;
  const guestType = type === 'qemu' ? 'qemu' : 'lxc';
  const g = node.guests.find((x) => x.vmid === Number(vmid) && x.type === guestType);
  if (!g) return fail(255, `Configuration file '${confPath(node, guestType, vmid)}' does not exist\n`);
  // /etc/pve is read-only without quorum: a write cannot take the firewall file's cluster lock.
  if (verb !== 'get' && !quorumOf(state, ctx.lab).quorate) return fail(255, `cfs-lock 'firewall-${vmid}' error: ${NO_QUORUM}`);
  return guestFirewall(g, { verb, path: sub, params: parsed.params, usage: `pvesh ${verb} <api_path> [OPTIONS] [FORMAT_OPTIONS]` }) ?? noHandler;
}

/**
 * `GET /nodes/N/storage/S/content`: what the storage holds, filtered by `--content`. The lab's nodes hold ISO images
 * in `local` (isosOf); the LVM storages hold the guests' disks, which no runbook lists this way (none simulated).
 */
function storageContent(node: PveNodeState, storage: string, content: string | undefined): CommandResult {
  if (storage !== 'local' && !node.storages.some((s) => s.name === storage)) return fail(255, `storage '${storage}' does not exist\n`);
  if (content !== undefined && !['iso', 'images', 'rootdir', 'vztmpl', 'backup', 'snippets'].includes(content)) {
    return fail(255, `400 Parameter verification failed.\ncontent: value '${content}' does not have a value in the enumeration 'images, rootdir, vztmpl, iso, backup, snippets'\n`);
  }
  if (storage !== 'local' || (content !== undefined && content !== 'iso')) return ok('[]\n');
  // PVE lists each volume with its format, size and creation time; the lab's images are 600-700 MB netinsts.
  return ok(`${JSON.stringify(isosOf(node).map((volid, i) => ({ volid, content: 'iso', format: 'iso', size: 659554304 + i * 1048576, ctime: 1700000000 + i * 86400 })))}\n`);
}
