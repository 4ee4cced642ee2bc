import { randomBytes } from 'node:crypto';
import { setLogSink } from '../../agent/telemetry/log.js';
import { registry } from '../../metrics/registry.js';
import { eventually } from '../helpers/eventually.js';
import { privilegedTest } from '../helpers/privileged.js';
import { ID_A, ID_B, SERVICE_VIP, echo, readAll, startDataplane } from './dataplane-harness.js';

/**
 * One connection, two reports that must tell the same story: pod a calls service b (its VIP) on
 * another node, and the access-log line and the istio_tcp_* series of each side — the source
 * side's outbound, the destination side's inbound — name the same workloads, namespaces,
 * identities, clusters and service, and count the same bytes.
 */
const access: Record<string, unknown>[] = [];
setLogSink((line) => {
  const record = JSON.parse(line) as Record<string, unknown>;
  if (record.component === 'access') access.push(record);
});

privilegedTest('the access log and the istio_tcp_* labels agree, on both sides of one connection', async (t) => {
  const dp = await startDataplane(t);
  await dp.serve('b', 8080, echo);
  const payload = randomBytes(3000);
  const sock = await dp.connect('a', SERVICE_VIP, 80);
  const got = readAll(sock);
  sock.end(payload);
  t.is((await got).length, payload.length);
  const lines = await eventually(() => {
    const done = access.filter((r) => r.msg === 'connection complete');
    if (done.length < 2) throw new Error(`access lines so far: ${JSON.stringify(access)}`);
    return done;
  });
  const families = await registry.getMetricsAsJSON();
  const series = (name: string, reporter: string) => {
    const values = families.find((f) => f.name === name)?.values.filter((v) => v.labels.reporter === reporter) ?? [];
    t.is(values.length, 1, `${name}{reporter="${reporter}"}: one series`);
    return values[0]!;
  };
  for (const [direction, reporter] of [['outbound', 'source'], ['inbound', 'destination']] as const) {
    const line = lines.find((l) => l.direction === direction)!;
    t.truthy(line, `a ${direction} access line`);
    const labels = series('istio_tcp_connections_closed_total', reporter).labels;
    t.like(labels, {
      source_workload: line['src.workload'], source_workload_namespace: line['src.namespace'],
      source_cluster: line['src.cluster'], destination_workload: line['dst.workload'],
      destination_workload_namespace: line['dst.namespace'], destination_cluster: line['dst.cluster'],
    }, direction);
    t.like(labels, {
      source_workload: 'a', source_canonical_service: 'a', source_canonical_revision: 'latest', source_principal: ID_A,
      destination_workload: 'b', destination_canonical_service: 'b', destination_principal: ID_B,
      source_cluster: 'Kubernetes', destination_cluster: 'Kubernetes',
      connection_security_policy: 'mutual_tls', response_flags: '-', request_protocol: 'tcp',
    }, direction);
    t.is(line['src.identity'], ID_A);
    t.is(line['dst.identity'], ID_B);
    // The source side knows the service the client dialed; the destination side is told it (forwarded host=).
    t.is(line['dst.service'], 'b.shop.svc.cluster.local');
    t.like(labels, { destination_service: line['dst.service'], destination_service_name: 'b', destination_service_namespace: 'shop' });
    // bytes_sent/bytes_recv are the application's view; received/sent bytes the proxy's.
    const upstream = direction === 'outbound' ? line.bytes_sent : line.bytes_recv;
    const downstream = direction === 'outbound' ? line.bytes_recv : line.bytes_sent;
    t.is(series('istio_tcp_received_bytes_total', reporter).value, upstream as number, `${direction} received bytes`);
    t.is(series('istio_tcp_sent_bytes_total', reporter).value, downstream as number, `${direction} sent bytes`);
    t.is(upstream, payload.length);
  }
});
