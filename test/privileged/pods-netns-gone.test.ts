import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMeshConfig } from '../../agent/model/load.js';
import { StateStore } from '../../agent/state/store.js';
import { compilePolicies } from '../../agent/authz/index.js';
import { createCertManager } from '../../agent/identity/cert-manager.js';
import { PodProxies } from '../../agent/proxy/pod-proxies.js';
import { PodStore } from '../../agent/pods/store.js';
import { PodRegistry } from '../../agent/pods/registry.js';
import { createLogger, setLogSink } from '../../agent/telemetry/log.js';
import { eventually } from '../helpers/eventually.js';
import { listeningPodPorts, podNetns } from '../helpers/pod-netns.js';
import { privilegedTest } from '../helpers/privileged.js';
import { AGENT_TEST_MESH } from './agent-mesh.js';
import { Revocations } from '../../agent/identity/index.js';

// The pod netns disappears while its proxy runs and no DEL arrives.
setLogSink(() => undefined);
const log = createLogger('test');
const settings = { trustDomain: 'cluster.local', rootNamespace: 'istio-system' };

/** Descriptors of this process that hold the namespace file `ns` (dev and inode) open. */
function netnsFds(ns: { dev: number; ino: number }): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    const st = statSync(`/proc/self/fd/${fd}`, { throwIfNoEntry: false });
    return st !== undefined && st.dev === ns.dev && st.ino === ns.ino;
  }).length;
}

privilegedTest('a pod whose netns is deleted without a DEL is dropped: listeners, netns handle and state released', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'i-gone-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'mesh.yaml'), AGENT_TEST_MESH);
  const loaded = await loadMeshConfig(join(dir, 'mesh.yaml'), settings);
  const mesh = StateStore.fromSnapshot(loaded.snapshot!);
  const policies = compilePolicies(loaded.snapshot!);
  const certs = createCertManager({ node: 'n1', caAddress: { host: '127.0.0.1', port: 9 }, caRootFile: join(dir, 'none.pem'), clusterId: 'Kubernetes', certTtlMs: 3_600_000, log });
  t.teardown(() => certs.close());
  const proxies = new PodProxies({ mesh: () => mesh, policies: () => policies, certs, revocations: new Revocations(() => certs.trustBundle()), trustDomain: settings.trustDomain, log });
  t.teardown(() => proxies.close());
  const pods = new PodRegistry({ store: new PodStore(join(dir, 'state')), listeners: proxies, enrollment: (ns, n) => mesh.podEnrollment(ns, n), log, netnsSweepMs: 100 });
  t.teardown(() => pods.close());

  const gone = podNetns(t, 'igone');
  const kept = podNetns(t, 'igone');
  await pods.register({ uid: 'uid-gone', namespace: 'shop', name: 'cart-0', netns: gone.path, ips: ['10.78.0.2'] });
  await pods.register({ uid: 'uid-kept', namespace: 'shop', name: 'web-0', netns: kept.path, ips: ['10.78.0.3'] });
  t.deepEqual(listeningPodPorts(gone.name), [15001, 15006, 15008]);
  const goneNs = statSync(gone.path);
  t.is(netnsFds(goneNs), 1, 'the registry holds the pod netns open');

  execFileSync('ip', ['netns', 'del', gone.name]);
  await eventually(() => { if (pods.get('uid-gone')) throw new Error('still registered'); }, 5_000);
  t.deepEqual(pods.list().map((p) => p.uid), ['uid-kept'], 'the other pod is untouched');
  t.deepEqual(listeningPodPorts(kept.name), [15001, 15006, 15008]);
  // The registry forgets the pod first and deletes its file right after, asynchronously.
  const onDisk = await eventually(async () => {
    const files = await readdir(join(dir, 'state', 'pods'));
    if (files.length !== 1) throw new Error(`registrations on disk: ${files.join(', ')}`);
    return files;
  }, 5_000);
  t.is(onDisk.length, 1, 'the registration is removed from disk');
  t.is(netnsFds(goneNs), 0, 'the netns handle of the dropped pod is closed, so the namespace can be freed');
}, ['ip', 'ss']);
