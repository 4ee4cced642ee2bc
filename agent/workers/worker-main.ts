import { parentPort, workerData } from 'node:worker_threads';
import { parseCrl } from '../base/crl.js';
import { Revocations } from '../identity/index.js';
import { currentNetns, openNetns, type NetnsHandle } from '../net/index.js';
import { PodProxies } from '../proxy/pod-proxies.js';
import { StateStore } from '../state/store.js';
import { affectsAuthorization } from '../state/types.js';
import { applyLevelSettings, createLogger, setThreadLogFields } from '../telemetry/log.js';
import { registry } from '../../metrics/registry.js';
import { DATA_PLANE_METRICS } from '../../metrics/proxy.js';
import { CertReplica } from './cert-replica.js';
import { WorkerError } from './errors.js';
import { wireError, type Command, type FromWorker, type ToWorker, type WorkerSetup } from './protocol.js';

/**
 * A data-plane worker thread: one more event loop serving every pod's listeners (its own
 * sockets on the same ports, SO_REUSEPORT spreading new connections over the loops), its own
 * HBONE pool, and a copy of what the data plane decides with, kept by the main thread's pushes.
 * It runs the same PodProxies as the main thread; nothing here decides anything of its own.
 */
const port = parentPort!;
const setup = workerData as WorkerSetup;
applyLevelSettings(setup.levels);
setThreadLogFields({ worker: setup.index });
const log = createLogger('agent');
const send = (msg: FromWorker) => port.postMessage(msg);

const state = new StateStore(setup.settings, log.child('state'));
const certs = new CertReplica((id) => send({ type: 'want-cert', id }));
const revocations = new Revocations(() => certs.trustBundle());
revocations.onChange(() => certs.recheck(revocations));
const proxies = new PodProxies({
  mesh: () => state, policies: () => state.policies, certs, revocations, trustDomain: setup.trustDomain, log: log.child('proxy'),
});
state.subscribe((change) => { if (affectsAuthorization(change)) proxies.recheckPolicies(); });
/** This worker's own handles of the pods' namespaces, open while their listeners are. */
const namespaces = new Map<string, NetnsHandle>();

function openShared(path: string, id: string): NetnsHandle {
  const netns = openNetns(path);
  if (netns.id !== id) {
    netns.close();
    throw new WorkerError(`the pod network namespace changed before the worker opened it (${path})`);
  }
  return netns;
}

function forget(uid: string): void {
  namespaces.get(uid)?.close();
  namespaces.delete(uid);
}

async function run(cmd: Command): Promise<unknown> {
  switch (cmd.type) {
    case 'add-pod': {
      const held = namespaces.get(cmd.pod.uid);
      // The same namespace again: the listeners keep the handle they were opened with.
      if (held?.id === cmd.netnsId) return proxies.add(cmd.pod, held);
      const netns = openShared(cmd.netnsPath, cmd.netnsId);
      try {
        await proxies.add(cmd.pod, netns);
      } catch (err) {
        netns.close();
        throw err;
      }
      held?.close();
      namespaces.set(cmd.pod.uid, netns);
      return undefined;
    }
    case 'serve-host':
      return proxies.serveHost(cmd.node, currentNetns());
    case 'remove-pod':
      await proxies.remove(cmd.uid);
      forget(cmd.uid);
      return undefined;
    case 'release-pod':
      return proxies.release(cmd.uid);
    case 'connections':
      return proxies.openConnections();
    case 'count':
      return proxies.connections.count();
    case 'metrics':
      return (await registry.getMetricsAsJSON()).filter((m) => DATA_PLANE_METRICS.has(m.name));
    case 'drain':
      await proxies.close();
      for (const uid of [...namespaces.keys()]) forget(uid);
      return undefined;
  }
}

function takeCrls(msg: Extract<ToWorker, { type: 'crls' }>): void {
  certs.setTrustBundle(msg.bundle);
  for (const { source, ders } of msg.sources) {
    // The main thread verified these against the same bundle; failing here means this copy
    // would enforce less than the main thread does, which must not go on silently.
    try {
      revocations.set(source, ders.map((d) => parseCrl(Buffer.from(d.buffer, d.byteOffset, d.byteLength))));
    } catch (err) {
      send({ type: 'fatal', message: `cannot load the CRLs of source ${source}: ${(err as Error).message}` });
    }
  }
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'state': state.apply(msg.batch); return;
    case 'cert': certs.put(msg.cert, msg.rotated); return;
    case 'cert-failed': certs.failed(msg.id, msg.message); return;
    case 'trust': certs.setTrustBundle(msg.bundle); return;
    case 'crls': takeCrls(msg); return;
    case 'log': applyLevelSettings(msg.levels); return;
    case 'destroy':
      proxies.destroy();
      certs.close();
      for (const uid of [...namespaces.keys()]) forget(uid);
      // Ends this thread only; the main thread waits for it.
      process.exit(0);
    default:
      run(msg).then(
        (value) => send({ type: 'reply', seq: msg.seq, value }),
        (err: unknown) => send({ type: 'reply', seq: msg.seq, error: wireError(err) }),
      );
  }
});
send({ type: 'ready' });
