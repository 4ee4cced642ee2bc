import { statSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { currentNetns, netnsIdOf, type NetnsHandle } from '../../agent/net/index.js';

/**
 * For whole-agent tests in this process, unprivileged: a pod namespace stand-in whose listeners
 * bind ephemeral loopback ports, recorded in `bound` by the pod port they stand for, and whose
 * dials are ordinary ones. Its id is the stand-in file's, so the registry tells pods apart.
 */
export function loopbackNamespace(path: string, bound: Map<number, number>): NetnsHandle {
  const own = currentNetns();
  return {
    path, id: netnsIdOf(statSync(path)),
    async listen(port, opts) {
      const server = await own.listen(0, { ...opts, host: '127.0.0.1' });
      bound.set(port, (server.address() as net.AddressInfo).port);
      return server;
    },
    connect: (host, port, opts) => own.connect(host, port, opts),
    close: () => own.close(),
  };
}

export function httpRequest(opts: http.RequestOptions, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(opts, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function httpGet(address: { host: string; port: number }, path: string): Promise<{ status: number; body: string }> {
  return httpRequest({ host: address.host, port: address.port, path, method: 'GET' });
}

/** Registers a pod the way meshnode-cni does, over the agent's unix socket. */
export function registerPod(socketPath: string, pod: { uid: string; namespace: string; name: string; netns: string; ips: string[] }) {
  return httpRequest({ socketPath, method: 'POST', path: '/v1/pods', headers: { 'content-type': 'application/json' } }, JSON.stringify(pod));
}
