/**
 * What a Proxmox node keeps of its cluster membership: the corosync and pve-cluster units, a `pmxcfs -l` started
 * by hand, its copy of corosync.conf (in /etc/pve, pmxcfs' database, and in /etc/corosync) and the few files of
 * /etc/corosync and /var/lib/corosync the page removes. The commands acting on it are in corosync.ts.
 */

export interface CorosyncNode {
  name: string;
  nodeId: number;
  address: string;
}

export interface CorosyncState {
  units: { 'pve-cluster': boolean; corosync: boolean };
  /** pve-cluster's own pmxcfs while the unit runs, and a `pmxcfs -l` started by hand. */
  unitPid?: number;
  localPid?: number;
  nextPid: number;
  clusterName: string;
  /** corosync.conf's nodelist as this node last had it (`pvecm delnode` on a member updates every member's). */
  nodelist: CorosyncNode[];
  /** The QDevice (corosync-qnetd on another machine) and the votes it gives: `pvecm qdevice setup`. */
  qdevice?: { address: string; votes: number };
  configVersion: number;
  /** `pvecm expected N`: votequorum's expected votes set by hand, until the configuration next changes. */
  expectedVotes?: number;
  /** /etc/pve/corosync.conf in this node's pmxcfs database; null once removed. */
  pveConf: string | null;
  /** Files outside /etc/pve, path → content; a directory is its path with a trailing '/'. */
  files: Record<string, string>;
}

export const ETC_COROSYNC_CONF = '/etc/corosync/corosync.conf';
export const PVE_COROSYNC_CONF = '/etc/pve/corosync.conf';

/** Part of a cluster: some corosync.conf is left (pmxcfs writes /etc/corosync's from /etc/pve's at start). */
export function clustered(c: CorosyncState): boolean {
  return c.pveConf !== null || ETC_COROSYNC_CONF in c.files;
}

/** corosync.conf as `pvecm create` / `pvecm add` / `pvecm qdevice setup` write it. */
export function renderCorosyncConf(c: CorosyncState): string {
  const nodes = c.nodelist.map((n) => `  node {\n    name: ${n.name}\n    nodeid: ${n.nodeId}\n    quorum_votes: 1\n    ring0_addr: ${n.address}\n  }\n`).join('');
  const device = c.qdevice
    ? `  device {\n    model: net\n    net {\n      algorithm: ${c.qdevice.votes === 1 ? 'ffsplit' : 'lms'}\n      host: ${c.qdevice.address}\n      tls: on\n    }\n    votes: ${c.qdevice.votes}\n  }\n`
    : '';
  return `logging {\n  debug: off\n  to_syslog: yes\n}\n\nnodelist {\n${nodes}}\n\nquorum {\n${device}  provider: corosync_votequorum\n}\n\n`
    + `totem {\n  cluster_name: ${c.clusterName}\n  config_version: ${c.configVersion}\n  interface {\n    linknumber: 0\n  }\n  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n  version: 2\n}\n`;
}

/**
 * A member of a running cluster as the preset finds it. The QDevice gives one vote to an even number of nodes
 * (ffsplit) and N-1 to an odd one (lms), as `pvecm qdevice setup` configures it (pve-docs, "Corosync External Vote Support").
 */
export function corosyncMember(self: CorosyncNode, clusterName: string, nodelist: CorosyncNode[], qdevice?: string): CorosyncState {
  const c: CorosyncState = {
    units: { 'pve-cluster': true, corosync: true },
    unitPid: 1000 + self.nodeId,
    nextPid: 4000 + self.nodeId * 100,
    clusterName,
    nodelist: nodelist.map((n) => ({ ...n })),
    ...(qdevice ? { qdevice: { address: qdevice, votes: nodelist.length % 2 === 0 ? 1 : nodelist.length - 1 } } : {}),
    configVersion: qdevice ? nodelist.length + 1 : nodelist.length,
    pveConf: null,
    files: {},
  };
  const conf = renderCorosyncConf(c);
  c.pveConf = conf;
  c.files = {
    '/etc/corosync/': '',
    [ETC_COROSYNC_CONF]: conf,
    '/etc/corosync/authkey': `lab corosync authkey of ${clusterName}\n`,
    ...(qdevice ? { '/etc/corosync/qdevice/': '', '/etc/corosync/qdevice/net/': '', '/etc/corosync/qdevice/net/nssdb/': '', '/etc/corosync/qdevice/net/nssdb/cert9.db': 'lab nss db\n' } : {}),
    '/var/lib/corosync/': '',
    [`/var/lib/corosync/ringid_${self.nodeId}`]: `${self.nodeId}\n`,
    '/root/': '',
  };
  return c;
}
