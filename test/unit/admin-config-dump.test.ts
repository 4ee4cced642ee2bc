import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMeshConfig } from '../../agent/model/load.js';
import { buildConfigDump, jsonReplacer } from '../../agent/admin/config-dump.js';

const MESH = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata: {name: z-pod, namespace: shop}
spec: {nodeName: n1}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: a-pod, namespace: shop}
spec: {nodeName: n1}
status: {podIP: 10.0.0.3}
`;

test('the config dump lists workloads sorted by uid, registered pods by uid, and prints Maps as objects', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'd1-dump-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'mesh.yaml'), MESH);
  const { snapshot } = await loadMeshConfig(join(dir, 'mesh.yaml'), { trustDomain: 'cluster.local', rootNamespace: 'istio-system' });
  if (!snapshot) return t.fail('test config is invalid');
  const dump = buildConfigDump({
    snapshot, pods: [{ uid: 'u1', namespace: 'shop', name: 'a-pod', ips: ['10.0.0.3'], netns: '/run/netns/x' }],
    sources: [], revocations: [], certificates: [{ identity: 'spiffe://cluster.local/ns/shop/sa/default' }], config: { node: 'n1' }, version: '0.1.0',
    configLoadedAt: new Date(0),
  });
  const parsed = JSON.parse(JSON.stringify(dump, jsonReplacer)) as {
    workloads: { uid: string; name: string; services: unknown }[]; workloadState: Record<string, { state: string; info: { name: string } }>;
    ambientNamespaces: string[]; configLoadedAt: string; config: unknown;
  };
  t.deepEqual(parsed.workloads.map((w) => w.name), ['a-pod', 'z-pod']);
  t.deepEqual(parsed.workloads[0]!.services, {});
  t.deepEqual(parsed.workloadState, { u1: { state: 'Up', info: { name: 'a-pod', namespace: 'shop' }, ips: ['10.0.0.3'], netns: '/run/netns/x' } });
  t.deepEqual(parsed.ambientNamespaces, ['shop']);
  t.is(parsed.configLoadedAt, '1970-01-01T00:00:00.000Z');
  t.deepEqual(parsed.config, { node: 'n1' });
});

test('the JSON replacer turns Maps into objects and Sets into sorted arrays', (t) => {
  t.is(JSON.stringify({ m: new Map([['b', 1]]), s: new Set(['y', 'x']) }, jsonReplacer), '{"m":{"b":1},"s":["x","y"]}');
});
