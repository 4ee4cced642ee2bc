import test from 'ava';
import { inboundService } from '../../agent/proxy/inbound-service.js';
import { docs, namespace, pod, service, validIndex } from './model-harness.js';

/** Which service an inbound connection's telemetry names, from the workload's own services. */
const mesh = validIndex(docs(
  namespace('shop'),
  pod('web-0', { namespace: 'shop', ip: '10.0.0.5', labels: { app: 'web' } }),
  service('web', { namespace: 'shop', clusterIP: '10.96.0.5', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }),
  service('web-admin', { namespace: 'shop', clusterIP: '10.96.0.6', selector: { app: 'web' }, ports: [{ port: 9000, targetPort: 9090 }] }),
  service('other', { namespace: 'shop', clusterIP: '10.96.0.7', selector: { app: 'other' }, ports: [{ port: 80, targetPort: 8080 }] }),
));
const web = mesh.workloadByName('shop', 'web-0')!;

test('the forwarded host= names the service when the workload backs it', (t) => {
  t.is(inboundService(mesh, web, 'for="10.0.0.9:4312";host=web-admin.shop.svc.cluster.local', 8080)?.name, 'web-admin');
  t.is(inboundService(mesh, web, ['for="10.0.0.9:4312";host="web-admin.shop.svc.cluster.local"'], 8080)?.name, 'web-admin');
});

test('a host the workload does not back is ignored: the service is the one on the connection\'s port', (t) => {
  t.is(inboundService(mesh, web, 'for="10.0.0.9:4312";host=other.shop.svc.cluster.local', 8080)?.name, 'web');
  t.is(inboundService(mesh, web, undefined, 9090)?.name, 'web-admin');
  t.is(inboundService(mesh, web, undefined, 7777), undefined, 'no service on that port');
});
