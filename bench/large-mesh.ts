/** The large mesh several benchmarks load: sizes a real cluster's node agent must hold. */
export const LARGE_MESH = {
  pods: 10_000, namespaces: 100, services: 1_000, policies: 1_000,
  get description(): string { return `${this.pods} pods, ${this.services} services, ${this.policies} policies, ${this.namespaces} namespaces`; },
};

/**
 * The large mesh as YAML: pods (with a named container port), services with named target ports,
 * selector policies. `variant` changes the principal of policy 0 only, so two variants differ
 * in one policy, as an operator's edit would.
 */

/** A mesh the size of the authz benchmark, as YAML: pods, services with named target ports, policies. */
export function largeMeshYaml(variant = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < LARGE_MESH.pods; i++) {
    parts.push(`apiVersion: v1\nkind: Pod\nmetadata:\n  name: p${i}\n  namespace: ns${i % LARGE_MESH.namespaces}\n  labels: {app: a${i % LARGE_MESH.services}}\n`
      + `spec:\n  nodeName: node-${i % 20}\n  containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]\n`
      + `status:\n  podIP: 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}\n`);
  }
  for (let s = 0; s < LARGE_MESH.services; s++) {
    parts.push(`apiVersion: v1\nkind: Service\nmetadata:\n  name: s${s}\n  namespace: ns${s % LARGE_MESH.namespaces}\n`
      + `spec:\n  clusterIP: 10.96.${s >> 8}.${s & 255}\n  selector: {app: a${s}}\n  ports: [{port: 80, targetPort: http}]\n`);
  }
  for (let p = 0; p < LARGE_MESH.policies; p++) {
    parts.push(`apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ap${p}\n  namespace: ns${p % LARGE_MESH.namespaces}\n`
      + `spec:\n  selector: {matchLabels: {app: a${p % LARGE_MESH.services}}}\n  rules:\n  - from: [{source: {principals: ["cluster.local/ns/ns${p % LARGE_MESH.namespaces}/sa/${p === 0 ? `v${variant}` : 'default'}"]}}]\n`);
  }
  return parts.join('---\n');
}

