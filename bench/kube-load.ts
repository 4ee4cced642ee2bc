import { request, type RequestOptions } from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';
import { loadKubeConnection } from '../agent/sources/kube/api-client.js';

/**
 * bench/kube's load generator, in a worker thread so its HTTP work does not count against the
 * event loop being measured: creates the pods, then reports each one's IP through the status
 * subresource (as a kubelet would), a few requests at a time.
 */
const { kubeconfig, namespace, ips, concurrency } = workerData as { kubeconfig: string; namespace: string; ips: string[]; concurrency: number };
const conn = await loadKubeConnection(kubeconfig);

async function send(method: string, path: string, body: unknown, contentType = 'application/json'): Promise<void> {
  const opts: RequestOptions = { method, headers: { 'content-type': contentType, accept: 'application/json' } };
  await conn.authorize(opts);
  await new Promise<void>((resolve, reject) => {
    const req = request(new URL(conn.server + path), opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`${method} ${path}: ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 300)}`)));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function one(i: number): Promise<void> {
  const name = `pod-${i}`;
  await send('POST', `/api/v1/namespaces/${namespace}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: `app-${i % 20}` } },
    spec: { nodeName: `node-${i % 10}`, serviceAccountName: 'bench', containers: [{ name: 'app', image: 'example.invalid/app', ports: [{ name: 'http', containerPort: 8080 }] }] },
  });
  await send('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, {
    status: { phase: 'Running', podIP: ips[i], podIPs: [{ ip: ips[i] }], conditions: [{ type: 'Ready', status: 'True' }] },
  }, 'application/merge-patch+json');
}

let next = 0;
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < ips.length) await one(next++);
}));
parentPort!.postMessage('done');
