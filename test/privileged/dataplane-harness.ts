import type { ExecutionContext } from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { compilePolicies, type CompiledPolicies } from '../../agent/authz/index.js';
import { asSpiffeId } from '../../agent/base/spiffe-id.js';
import { loadMeshConfig } from '../../agent/model/load.js';
import { StateStore } from '../../agent/state/store.js';
import { openNetns, type NetnsHandle } from '../../agent/net/index.js';
import { PodProxies, type ProxyDeps } from '../../agent/proxy/pod-proxies.js';
import { createLogger } from '../../agent/telemetry/log.js';
import { applyInpodRules } from '../../agent/capture/apply.js';
import { IssuedCerts, TestCa } from '../helpers/test-ca.js';
import { Topology, type TopoPod } from '../helpers/topology.js';
import { Revocations } from '../../agent/identity/index.js';

/**
 * Two nodes and their pods in real network namespaces, with the in-pod redirection rules
 * (agent/capture) installed and one in-process PodProxies per node serving its enrolled pods.
 * Mesh config is real YAML through the real loader and policy compiler; certificates are real,
 * issued by an openssl CA. Pods: `a` (node n1) and `b` (n2) enrolled in namespace shop; `out`
 * (n2) in namespace legacy, not enrolled: an out-of-mesh client.
 */
export const TD = 'cluster.local';
const settings = { trustDomain: TD, rootNamespace: 'istio-system' };
export const ID_A = `spiffe://${TD}/ns/shop/sa/a`;
export const ID_B = `spiffe://${TD}/ns/shop/sa/b`;
/** Service `b.shop` (port 80 → pod b's 8080); the address is never routed, only captured. */
export const SERVICE_VIP = '10.96.77.10';

export interface Dataplane {
  readonly topo: Topology;
  readonly certs: IssuedCerts;
  readonly ca: TestCa;
  readonly proxies: Map<string, PodProxies>;
  /** Replaces the mesh config (base pods + `extra` YAML) and re-checks open connections. */
  setPolicy(mode: 'STRICT' | 'PERMISSIVE', extra?: object[]): Promise<void>;
  /** An application server in a pod netns; counts accepted connections. */
  serve(pod: string, port: number, handler: (s: net.Socket) => void): Promise<{ accepted: net.Socket[] }>;
  /** An application client socket in a pod netns (to a pod name or an IP): unmarked, so the pod's rules capture it. */
  connect(from: string, to: string, port: number): Promise<net.Socket>;
  uidOf(pod: string): string;
}

function meshDocs(topo: Topology, mode: string, extra: object[]): string {
  const pod = (p: TopoPod, ns: string) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: ns, labels: { app: p.name } },
    spec: { serviceAccountName: p.name, nodeName: p.node }, status: { podIP: p.ip },
  });
  const docs: object[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'legacy' } },
    pod(topo.pod('a'), 'shop'), pod(topo.pod('b'), 'shop'), pod(topo.pod('out'), 'legacy'),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'b', namespace: 'shop' },
      spec: { clusterIP: SERVICE_VIP, selector: { app: 'b' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
    { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode } } },
    ...extra,
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}

/** Per node, where its data plane gets certificates and CRLs; default the openssl CA's certificates and no CRLs. */
export type NodeIdentity = (node: string) => Pick<ProxyDeps, 'certs' | 'revocations'>;

export async function startDataplane(t: ExecutionContext, mode: 'STRICT' | 'PERMISSIVE' = 'STRICT', identity?: NodeIdentity): Promise<Dataplane> {
  const topo = Topology.build({ nodes: { n1: ['a'], n2: ['b', 'out'] } });
  t.teardown(() => topo.destroy());
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-dp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = new TestCa();
  t.teardown(() => ca.dispose());
  const certs = new IssuedCerts([ca.rootPem]);
  certs.set(ca.issue([ID_A]));
  certs.set(ca.issue([ID_B]));
  let state!: { mesh: StateStore; policies: CompiledPolicies };
  const load = async (m: string, extra: object[]) => {
    writeFileSync(join(dir, 'mesh.yaml'), meshDocs(topo, m, extra));
    const loaded = await loadMeshConfig(join(dir, 'mesh.yaml'), settings);
    if (!loaded.snapshot) throw new Error(`test mesh config invalid: ${JSON.stringify(loaded.problems)}`);
    state = { mesh: StateStore.fromSnapshot(loaded.snapshot), policies: compilePolicies(loaded.snapshot) };
  };
  await load(mode, []);
  const log = createLogger('dataplane-test');
  const proxies = new Map<string, PodProxies>();
  const handles: NetnsHandle[] = [];
  t.teardown(async () => {
    for (const p of proxies.values()) p.destroy();
    for (const h of handles) h.close();
  });
  for (const node of ['n1', 'n2']) {
    const own = identity?.(node) ?? { certs, revocations: new Revocations(() => certs.trustBundle()) };
    proxies.set(node, new PodProxies({ mesh: () => state.mesh, policies: () => state.policies, ...own, trustDomain: TD, log: log.child(node) }));
  }
  const uidOf = (name: string) => `uid-${name}`;
  for (const name of ['a', 'b']) {
    const p = topo.pod(name);
    await applyInpodRules(p.path, { ipv6: false });
    const netns = openNetns(p.path);
    handles.push(netns);
    await proxies.get(p.node)!.add({ uid: uidOf(name), namespace: 'shop', name, netns: p.path, ips: [p.ip] }, netns);
  }
  const handleOf = (pod: string) => {
    const h = openNetns(topo.pod(pod).path);
    handles.push(h);
    return h;
  };
  return {
    topo, certs, ca, proxies, uidOf,
    async setPolicy(m, extra = []) {
      await load(m, extra);
      for (const p of proxies.values()) p.recheckPolicies();
    },
    async serve(pod, port, handler) {
      const accepted: net.Socket[] = [];
      const server = net.createServer({ allowHalfOpen: true }, (s) => { accepted.push(s); handler(s); });
      await handleOf(pod).listen(port, { server });
      t.teardown(() => { server.close(); for (const s of accepted) s.destroy(); });
      return { accepted };
    },
    async connect(from, to, port) {
      const ip = topo.pods.has(to) ? topo.pod(to).ip : to;
      const sock = await handleOf(from).connect(ip, port, { mark: 0 });
      sock.allowHalfOpen = true;
      t.teardown(() => sock.destroy());
      return sock;
    },
  };
}

/** Reads everything until the peer ends; rejects on reset. */
export function readAll(sock: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    sock.once('end', () => resolve(Buffer.concat(chunks)));
    sock.once('error', reject);
    sock.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Resolves when the socket closes, with whether it was ended cleanly. */
export function closed(sock: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (sock.destroyed) { resolve(); return; }
    sock.once('close', () => resolve());
  });
}

/** Echo: writes back what it reads, and ends its side after the client ended. */
export function echo(s: net.Socket): void {
  s.on('error', () => {});
  s.pipe(s);
}

export function unusedId(): string {
  return asSpiffeId(`spiffe://${TD}/ns/shop/sa/impostor`) ?? '';
}
