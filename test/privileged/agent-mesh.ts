/** A small mesh config for agent process tests: two enrolled pods on node n1. */
export const AGENT_TEST_MESH = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata: {name: cart-0, namespace: shop}
spec: {nodeName: n1, serviceAccountName: cart}
status: {podIP: 10.78.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop}
spec: {nodeName: n1, serviceAccountName: web}
status: {podIP: 10.78.0.3}
`;
