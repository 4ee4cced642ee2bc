import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';

/**
 * A small cluster made of network namespaces, for data-plane tests: "nodes" (each a netns with
 * a bridge for its pods, IP forwarding on) joined by one veth link, and "pods" (each a netns with
 * a veth into its node's bridge and a default route through it). Addresses are IPv4 from a /16
 * picked per run; every name is unique to the run. Nothing is created in, or changed on, the
 * machine's own namespace: veth pairs are created directly inside the namespaces. `destroy()`
 * deletes every namespace (and with them their links); call it from `t.teardown`.
 */
export interface TopoPod {
  readonly name: string;
  readonly node: string;
  /** netns name (`ip netns`) and file path. */
  readonly netns: string;
  readonly path: string;
  readonly ip: string;
}

export interface TopoNode {
  readonly name: string;
  readonly netns: string;
  /** The inter-node link's device inside this node's netns (capture here), and its address. */
  readonly linkDev: string;
  readonly linkAddress: string;
}

export interface TopologySpec {
  /** Node name → pod names (pod names unique across nodes). */
  readonly nodes: Readonly<Record<string, readonly string[]>>;
}

const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

export function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, [...args], { encoding: 'utf8', env: { ...process.env, PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function inNs(netns: string, cmd: string, args: readonly string[]): string {
  return sh('ip', ['netns', 'exec', netns, cmd, ...args]);
}

export class Topology {
  readonly nodes = new Map<string, TopoNode>();
  readonly pods = new Map<string, TopoPod>();
  private readonly created: string[] = [];

  private constructor() {}

  /** Builds the namespaces; on any failure everything made so far is removed again. */
  static build(spec: TopologySpec): Topology {
    const topo = new Topology();
    try {
      topo.make(spec);
    } catch (err) {
      topo.destroy();
      throw err;
    }
    return topo;
  }

  pod(name: string): TopoPod {
    const p = this.pods.get(name);
    if (!p) throw new Error(`no pod ${name} in the topology`);
    return p;
  }

  node(name: string): TopoNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name} in the topology`);
    return n;
  }

  private netns(prefix: string): string {
    // Not privileged.ts's uniqueName: the benchmark uses this file too, outside ava.
    const name = `${prefix}${randomBytes(4).toString('hex')}`;
    sh('ip', ['netns', 'add', name]);
    this.created.push(name);
    inNs(name, 'ip', ['link', 'set', 'lo', 'up']);
    return name;
  }

  private make(spec: TopologySpec): void {
    const net = randomInt(0, 60);
    const subnet = (i: number) => `10.${150 + net}.${i}`;
    const names = Object.keys(spec.nodes);
    if (names.length > 2) throw new Error('the topology joins at most two nodes');
    names.forEach((nodeName, i) => {
      const ns = this.netns('mtn');
      inNs(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      inNs(ns, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
      inNs(ns, 'ip', ['addr', 'add', `${subnet(i + 1)}.1/24`, 'dev', 'br0']);
      inNs(ns, 'ip', ['link', 'set', 'br0', 'up']);
      this.nodes.set(nodeName, { name: nodeName, netns: ns, linkDev: 'nl0', linkAddress: `${subnet(250)}.${i + 1}` });
      (spec.nodes[nodeName] ?? []).forEach((podName, j) => this.addPod(podName, nodeName, ns, `${subnet(i + 1)}.${j + 2}`, `${subnet(i + 1)}.1`, j));
    });
    if (names.length === 2) this.joinNodes(names[0]!, names[1]!, subnet);
  }

  private addPod(name: string, node: string, nodeNs: string, ip: string, gateway: string, j: number): void {
    const ns = this.netns('mtp');
    const hostSide = `vp${j}`;
    sh('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', hostSide, 'netns', nodeNs]);
    inNs(nodeNs, 'ip', ['link', 'set', hostSide, 'master', 'br0']);
    inNs(nodeNs, 'ip', ['link', 'set', hostSide, 'up']);
    inNs(ns, 'ip', ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    inNs(ns, 'ip', ['link', 'set', 'eth0', 'up']);
    inNs(ns, 'ip', ['route', 'add', 'default', 'via', gateway]);
    this.pods.set(name, { name, node, netns: ns, path: `/run/netns/${ns}`, ip });
  }

  private joinNodes(a: string, b: string, subnet: (i: number) => string): void {
    const na = this.node(a).netns;
    const nb = this.node(b).netns;
    sh('ip', ['link', 'add', 'nl0', 'netns', na, 'type', 'veth', 'peer', 'name', 'nl0', 'netns', nb]);
    inNs(na, 'ip', ['addr', 'add', `${subnet(250)}.1/30`, 'dev', 'nl0']);
    inNs(nb, 'ip', ['addr', 'add', `${subnet(250)}.2/30`, 'dev', 'nl0']);
    inNs(na, 'ip', ['link', 'set', 'nl0', 'up']);
    inNs(nb, 'ip', ['link', 'set', 'nl0', 'up']);
    inNs(na, 'ip', ['route', 'add', `${subnet(2)}.0/24`, 'via', `${subnet(250)}.2`]);
    inNs(nb, 'ip', ['route', 'add', `${subnet(1)}.0/24`, 'via', `${subnet(250)}.1`]);
  }

  /** Deletes every namespace this topology made; safe to call more than once. */
  destroy(): void {
    for (const ns of this.created.splice(0).reverse()) {
      try { sh('ip', ['netns', 'del', ns]); } catch { /* already gone */ }
    }
  }
}
