import * as grpc from '@grpc/grpc-js';
import { ADDRESS_TYPE, AUTHORIZATION_TYPE, adsApi } from '../agent/sources/xds/api.js';
import { HeldResources } from '../agent/sources/xds/resources.js';
import { XdsSource } from '../agent/sources/xds/source.js';
import { StateStore } from '../agent/state/store.js';
import { createLogger, setLogSink } from '../agent/telemetry/log.js';
import { AdsServer } from '../test/helpers/ads-server.js';
import { decodedResponse, workloadResource } from '../test/helpers/xds-fixtures.js';
import type { BenchResult } from './result.js';

const WORKLOADS = 10_000;
const DELTAS = 500;
const settings = { trustDomain: 'cluster.local', rootNamespace: 'istio-system' };
const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** A 10,000-workload push from an in-process ADS server (plaintext, loopback) until the store serves it. */
async function fullPush(): Promise<number> {
  const server = new AdsServer(() => grpc.ServerCredentials.createInsecure());
  server.set(AUTHORIZATION_TYPE, []);
  server.set(ADDRESS_TYPE, []);
  const port = await server.start();
  const store = new StateStore(settings);
  const source = new XdsSource({
    address: `127.0.0.1:${port}`, serverName: 'istiod.istio-system.svc', rootFile: '', tokenFile: undefined, plaintext: true,
    clusterId: 'Kubernetes', node: { nodeName: 'n1', podName: 'meshnode', podNamespace: 'istio-system', instanceIp: '10.0.0.1' },
    store, log: createLogger('bench'),
  });
  try {
    await source.start();
    const many = Array.from({ length: WORKLOADS }, (_, i) => workloadResource(`w-${i}`, ip(i + 1), { pad: 400 }));
    const last = ip(WORKLOADS);
    const served = new Promise<number>((resolve) => store.subscribe(() => { if (store.workloadByIp(last)) resolve(performance.now()); }));
    const sent = performance.now();
    server.push(ADDRESS_TYPE, many);
    return (await served) - sent;
  } finally {
    source.close();
    server.stop();
  }
}

/** Decode + translate + apply of one single-workload response against a 10,000-workload state. */
function perDelta(): number {
  const { service } = adsApi();
  const method = service.DeltaAggregatedResources;
  const store = new StateStore(settings);
  const held = new HeldResources();
  const initial = held.translate(decodedResponse({ type_url: ADDRESS_TYPE, resources: Array.from({ length: WORKLOADS }, (_, i) => workloadResource(`w-${i}`, ip(i + 1))) }));
  store.apply(initial.batch);
  initial.commit();
  const wire = Array.from({ length: DELTAS }, (_, i) => method.responseSerialize({
    type_url: ADDRESS_TYPE, nonce: `n${i}`, resources: [workloadResource(`w-${i}`, ip(i + 1), { version: `v${i + 2}`, policies: [`default/p${i}`] })],
  }));
  const started = performance.now();
  for (const buf of wire) {
    const t = held.translate(method.responseDeserialize(buf));
    store.apply(t.batch);
    t.commit();
  }
  return ((performance.now() - started) / DELTAS) * 1000;
}

export async function run(): Promise<BenchResult[]> {
  setLogSink(() => {});
  return [
    { name: `xds: ${WORKLOADS}-workload push received → served`, value: await fullPush(), unit: 'ms', note: 'one response over 4 MiB on loopback gRPC; includes the server encoding it' },
    { name: 'xds: event-loop time per single-workload delta', value: perDelta(), unit: 'µs', note: `decode + validate + apply, ${WORKLOADS} workloads held` },
  ];
}
