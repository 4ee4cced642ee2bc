import { stringify } from 'yaml';
import type { Topology } from './topology.js';
import { podNamed, SERVER_PORT } from './topology.js';

/**
 * The mesh config the demo's agents read: plain Kubernetes and Istio objects, as a user would
 * write them. "shop" is in the mesh, "legacy" is not; STRICT mTLS mesh-wide; only the frontend
 * and the billing VM may call the cart, only the frontend may call billing.
 */
export function meshConfigYaml(t: Topology): string {
  const frontend = podNamed(t, 'frontend');
  const principal = (ns: string, sa: string) => `${t.trustDomain}/ns/${ns}/sa/${sa}`;
  const vm = t.vm;
  const docs: object[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'legacy' } },
    ...t.pods.map((p) => ({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: p.name, namespace: p.namespace, uid: p.uid, labels: p.labels },
      spec: { serviceAccountName: p.serviceAccount, nodeName: p.node.name, containers: [{ name: p.name, image: 'meshnode-demo/sample-app' }] },
      status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] },
    })),
    {
      apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication',
      metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } },
    },
    {
      apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy',
      metadata: { name: 'cart-callers', namespace: 'shop' },
      spec: {
        selector: { matchLabels: { app: 'cart' } }, action: 'ALLOW',
        rules: [{
          from: [{ source: { principals: [principal(frontend.namespace, frontend.serviceAccount), principal(vm.namespace, vm.serviceAccount)] } }],
          to: [{ operation: { ports: [String(SERVER_PORT)] } }],
        }],
      },
    },
    // The VM, as `meshnode vm bootstrap` describes it: its agent serves it from the host network.
    {
      apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry',
      metadata: { name: vm.name, namespace: vm.namespace, labels: { app: 'billing' }, annotations: { 'meshnode.io/node': vm.name } },
      spec: { address: vm.address, serviceAccount: vm.serviceAccount, ports: { http: vm.serves } },
    },
    {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'billing', namespace: vm.namespace },
      spec: { clusterIP: vm.vip, selector: { app: 'billing' }, ports: [{ name: 'http', port: 80, targetPort: vm.serves }] },
    },
    {
      apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy',
      metadata: { name: 'billing-callers', namespace: vm.namespace },
      spec: {
        selector: { matchLabels: { app: 'billing' } }, action: 'ALLOW',
        rules: [{ from: [{ source: { principals: [principal(frontend.namespace, frontend.serviceAccount)] } }] }],
      },
    },
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}
