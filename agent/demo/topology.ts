/**
 * The demo mesh: two nodes, four pods, fixed addresses. Every name carries the run id so a demo
 * never collides with another one (or with a test run) on the same machine.
 */
export interface DemoNode {
  readonly name: string;
  /** Network namespace playing the node. */
  readonly netns: string;
  readonly linkAddress: string;
  readonly podSubnet: string;
  readonly podGateway: string;
}

export interface DemoPod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly serviceAccount: string;
  readonly node: DemoNode;
  readonly ip: string;
  readonly netns: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Port of the sample server it runs, if any. */
  readonly serves?: number;
}

export interface Topology {
  readonly id: string;
  readonly nodes: readonly [DemoNode, DemoNode];
  readonly pods: readonly DemoPod[];
  readonly caAddress: string;
  readonly trustDomain: string;
}

export const SERVER_PORT = 8080;

export function topology(id: string): Topology {
  const node = (letter: 'a' | 'b', n: number): DemoNode => ({
    name: `node-${letter}`, netns: `mnd${id}-node-${letter}`, linkAddress: `192.168.77.${n}`,
    podSubnet: `10.78.${n}.0/24`, podGateway: `10.78.${n}.1`,
  });
  const [a, b] = [node('a', 1), node('b', 2)];
  const pod = (namespace: string, name: string, sa: string, on: DemoNode, host: number, serves?: number): DemoPod => ({
    namespace, name, serviceAccount: sa, node: on, ip: `${on.podSubnet.split('.').slice(0, 3).join('.')}.${host}`,
    uid: `${id}0000-demo-4000-8000-${name.padEnd(12, '0').slice(0, 12)}`, netns: `mnd${id}-${name}`, labels: { app: name },
    ...(serves !== undefined ? { serves } : {}),
  });
  return {
    id, nodes: [a, b], trustDomain: 'cluster.local', caAddress: `${a.linkAddress}:15012`,
    pods: [
      pod('shop', 'frontend', 'frontend', a, 10),
      pod('shop', 'reviews', 'reviews', a, 11),
      pod('legacy', 'batch', 'default', a, 20),
      pod('shop', 'cart', 'cart', b, 10, SERVER_PORT),
    ],
  };
}

export function podNamed(t: Topology, name: string): DemoPod {
  const p = t.pods.find((x) => x.name === name);
  if (!p) throw new Error(`demo topology has no pod ${name}`);
  return p;
}

export const spiffeOf = (t: Topology, p: DemoPod) => `spiffe://${t.trustDomain}/ns/${p.namespace}/sa/${p.serviceAccount}`;
