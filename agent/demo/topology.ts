/**
 * The demo mesh: two nodes, four pods, a VM, fixed addresses. Every name carries the run id so a demo
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

/** A VM (a netns linked to node-a) whose agent runs in host mode, serving one WorkloadEntry. */
export interface DemoVm {
  /** Its node name (the WorkloadEntry's meshnode.io/node) and WorkloadEntry name. */
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly netns: string;
  readonly address: string;
  /** node-a's end of the VM's link. */
  readonly gateway: string;
  readonly subnet: string;
  readonly serves: number;
  /** The Service in front of it. */
  readonly vip: string;
}

export interface Topology {
  readonly id: string;
  readonly nodes: readonly [DemoNode, DemoNode];
  readonly pods: readonly DemoPod[];
  readonly vm: DemoVm;
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
    vm: {
      name: 'vm-billing', namespace: 'shop', serviceAccount: 'billing', netns: `mnd${id}-vm`, address: '192.168.78.2',
      gateway: '192.168.78.1', subnet: '192.168.78.0/24', serves: SERVER_PORT, vip: '10.96.78.10',
    },
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

export const spiffeOf = (t: Topology, p: Pick<DemoPod, 'namespace' | 'serviceAccount'>) => `spiffe://${t.trustDomain}/ns/${p.namespace}/sa/${p.serviceAccount}`;
