import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registry, collectProcessMetrics } from '../../metrics/registry.js';
import * as kube from '../../metrics/kube.js';
import * as proxy from '../../metrics/proxy.js';
import * as identity from '../../metrics/identity.js';
import * as agent from '../../metrics/agent.js';
import * as ca from '../../metrics/ca.js';
import { MetricsServer } from '../../metrics/server.js';
import { missingTools } from '../helpers/privileged.js';
import { repoRoot } from '../helpers/paths.js';

/**
 * The exposition the agent serves on :15020 is checked by Prometheus' own linter (`promtool check
 * metrics`), with every metric family populated the way the data plane and identity code do, and
 * every family is listed in the catalogue metrics/README.md (the contract).
 */
function populate(): void {
  collectProcessMetrics();
  const unknown = Object.fromEntries(proxy.TRAFFIC_LABELS.map((l) => [l, 'unknown'])) as proxy.TrafficLabels;
  const labels: proxy.TrafficLabels = {
    ...unknown, reporter: 'destination', source_workload: 'frontend', source_canonical_service: 'frontend',
    source_canonical_revision: 'v1', source_workload_namespace: 'shop', source_principal: 'spiffe://cluster.local/ns/shop/sa/frontend',
    source_cluster: 'Kubernetes', destination_workload: 'cart', destination_workload_namespace: 'shop',
    destination_principal: 'spiffe://cluster.local/ns/shop/sa/cart', destination_service: 'cart.shop.svc.cluster.local',
    destination_service_name: 'cart', destination_service_namespace: 'shop', request_protocol: 'tcp',
    connection_security_policy: 'mutual_tls', response_flags: '-',
  };
  proxy.connectionsOpened.inc(labels);
  proxy.connectionsClosed.inc(labels);
  proxy.sentBytes.inc(labels, 1024);
  proxy.receivedBytes.inc(labels, 2048);
  proxy.connectionsFailed.inc({ ...labels, response_flags: 'UF' });
  proxy.denials.inc({ direction: 'inbound', reason: proxy.DENIAL_REASONS[0] });
  identity.certExpiryTimestamp.set({ identity: 'spiffe://cluster.local/ns/shop/sa/cart' }, Date.now() / 1000 + 86_400);
  identity.csrRequests.inc();
  identity.csrFailures.inc({ reason: 'ca_unavailable' });
  kube.kubeEvents.inc({ resource: 'pods', type: 'BOOKMARK' });
  kube.kubeWatchRestarts.inc({ resource: 'pods', reason: 'timeout' });
  kube.kubeRelists.inc({ resource: 'pods', reason: 'initial' });
  kube.kubeErrors.inc({ resource: 'pods', reason: 'http_503' });
  kube.kubeResourceSynced.set({ resource: 'pods' }, 1);
  kube.kubeRejectedObjects.inc({ kind: 'AuthorizationPolicy' });
  kube.kubeTranslateSeconds.observe(0.0007);
  agent.configReloads.inc({ result: 'success' });
  agent.configLastReloadSuccessful.set(1);
  agent.registeredPods.set(2);
  agent.podRegistrations.inc({ operation: 'add', result: 'success' });
  agent.podsRestored.inc({ result: 'reopened' });
  agent.build.set({ component: 'ztunnel', tag: '0.1.0' }, 1);
  ca.certificatesIssued.inc({ via: 'kubernetes-token' });
  ca.requestsRefused.inc({ reason: 'not-on-node' });
  ca.requestDuration.observe({ result: 'issued' }, 0.004);
}

async function scrape(path: string): Promise<string> {
  const server = new MetricsServer();
  const bound = await server.start('127.0.0.1', 0);
  try {
    const res = await fetch(`http://127.0.0.1:${bound.port}${path}`);
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
    return await res.text();
  } finally {
    await server.close();
  }
}

const promtoolMissing = missingTools(['promtool']).length > 0;
const lint = promtoolMissing ? test.skip : test;

lint(`promtool check metrics accepts /metrics and /stats/prometheus${promtoolMissing ? ' [skipped: promtool not installed, apt package prometheus]' : ''}`, async (t) => {
  populate();
  for (const path of ['/metrics', '/stats/prometheus']) {
    const text = await scrape(path);
    t.true(text.includes('istio_tcp_connections_opened_total{'), `${path} serves the traffic metrics`);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    t.is(check.status, 0, `promtool on ${path}:\n${check.stdout}${check.stderr}`);
  }
});

test('every metric family the agent registers is in the catalogue metrics/README.md', async (t) => {
  populate();
  const catalogue = readFileSync(join(repoRoot, 'metrics', 'README.md'), 'utf8');
  const families = (await registry.getMetricsAsJSON()).map((m) => m.name)
    .filter((name) => !name.startsWith('meshnode_process_') && !name.startsWith('meshnode_nodejs_'));
  t.true(families.length >= 10, `found ${families.length} families`);
  const missing = families.filter((name) => !catalogue.includes(name));
  t.deepEqual(missing, [], `not in metrics/README.md: ${missing.join(', ')}`);
});
