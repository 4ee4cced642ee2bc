/**
 * Mesh config documents for tests that run an agent on a YAML config: the ambient namespace
 * `shop`, its pods, and the one DENY policy most of them flip to.
 */
export interface PodDoc {
  readonly name: string;
  readonly serviceAccount: string;
  readonly ip: string;
  readonly node: string;
  readonly uid?: string;
}

export function shopMesh(pods: readonly PodDoc[], extra = ''): string {
  const header = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
`;
  const docs = pods.map((p) => `---
apiVersion: v1
kind: Pod
metadata: {name: ${p.name}, namespace: shop${p.uid ? `, uid: ${p.uid}` : ''}, labels: {app: ${p.serviceAccount}}}
spec: {nodeName: ${p.node}, serviceAccountName: ${p.serviceAccount}}
status: {podIP: ${p.ip}}
`);
  return header + docs.join('') + extra;
}

/** A DENY AuthorizationPolicy in `shop` for every connection from service account `sa`. */
export function denyFrom(sa: string, trustDomain = 'cluster.local'): string {
  return `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-${sa}, namespace: shop}
spec:
  action: DENY
  rules: [{from: [{source: {principals: ["${trustDomain}/ns/shop/sa/${sa}"]}}]}]
`;
}
