import { startKubeCluster } from '../helpers/kube-cluster.js';
import { kubeTest } from '../helpers/kube-test.js';

/**
 * The shared test control plane works as the Kubernetes tests need it: objects apply, pod status
 * is written through the status subresource, the Istio CRDs serve both versions, service-account
 * tokens are issued and reviewed, and kubectl keeps working across an API server restart.
 */
kubeTest('kube cluster: apply, pod status, CRDs, tokens, restart', async (t) => {
  const kube = await startKubeCluster();
  t.teardown(() => kube.close());
  await kube.apply(`
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
spec:
  nodeName: node-a
  serviceAccountName: web
  containers: [{name: app, image: example.invalid/app}]
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: shop}
spec: {}
`);
  await kube.setPodStatus('shop', 'web-1', { podIP: '10.1.0.5' });
  const pod = JSON.parse((await kube.kubectl(['get', 'pod', 'web-1', '-n', 'shop', '-o', 'json'])).stdout) as {
    status: { phase: string; podIP: string; podIPs: { ip: string }[]; conditions: { type: string; status: string }[] };
  };
  t.is(pod.status.phase, 'Running');
  t.is(pod.status.podIP, '10.1.0.5');
  t.deepEqual(pod.status.podIPs, [{ ip: '10.1.0.5' }]);
  t.true(pod.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'));

  const policy = await kube.kubectl(['get', 'authorizationpolicies.v1.security.istio.io', 'deny-all', '-n', 'shop', '-o', 'name']);
  t.is(policy.stdout.trim(), 'authorizationpolicy.security.istio.io/deny-all', policy.stderr);

  const token = await kube.kubectl(['create', 'token', 'web', '-n', 'shop', '--audience', 'istio-ca']);
  t.is(token.code, 0, token.stderr);
  const review = await kube.kubectl(['create', '-o', 'json', '-f', '-'], JSON.stringify({
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: token.stdout.trim(), audiences: ['istio-ca'] },
  }));
  const status = (JSON.parse(review.stdout) as { status: { authenticated: boolean; user: { username: string }; audiences: string[] } }).status;
  t.true(status.authenticated, review.stdout);
  t.is(status.user.username, 'system:serviceaccount:shop:web');
  t.deepEqual(status.audiences, ['istio-ca']);

  await kube.restart();
  const after = await kube.kubectl(['get', 'pod', 'web-1', '-n', 'shop', '-o', 'jsonpath={.status.podIP}']);
  t.is(after.stdout, '10.1.0.5', after.stderr);
});
