import { stringify } from 'yaml';
import type { Topology } from './topology.js';
import { podNamed, SERVER_PORT } from './topology.js';

/**
 * The mesh config the demo's agents read: plain Kubernetes and Istio objects, as a user would
 * write them. "shop" is in the mesh, "legacy" is not; STRICT mTLS mesh-wide; only the frontend
 * may call the cart.
 */
export function meshConfigYaml(t: Topology): string {
  const frontend = podNamed(t, 'frontend');
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
          from: [{ source: { principals: [`${t.trustDomain}/ns/${frontend.namespace}/sa/${frontend.serviceAccount}`] } }],
          to: [{ operation: { ports: [String(SERVER_PORT)] } }],
        }],
      },
    },
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}
