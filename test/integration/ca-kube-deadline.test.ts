import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { eventually } from '../helpers/eventually.js';
import { callCa, opensslCsr, removeDir, startCa, tempDir } from './ca-support.js';

/**
 * An API server that accepts connections and never answers (a hung or black-holed control
 * plane) costs a certificate request the CA's 3 s deadline, not the caller's whole timeout, and
 * the caller learns it may retry.
 */
test('meshnode ca --kube answers UNAVAILABLE within its deadline when the API server never answers', async (t) => {
  const work = tempDir('mn-ca-hang-');
  t.teardown(() => removeDir(work));
  const held = new Set<net.Socket>();
  const silent = net.createServer((socket) => { held.add(socket); socket.on('error', () => {}); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const s of held) s.destroy(); silent.close(); });
  const kubeconfig = join(work, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: c',
    'clusters:', '- name: c', '  cluster:', `    server: https://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, '    insecure-skip-tls-verify: true',
    'users:', '- name: u', '  user: {token: not-a-real-token}',
    'contexts:', '- name: c', '  context: {cluster: c, user: u}', '',
  ].join('\n'));
  const ca = await startCa(join(work, 'ca'), ['--kube', '--kubeconfig', kubeconfig]);
  t.teardown(() => ca.stop());
  const root = readFileSync(join(work, 'ca', 'root-cert.pem'), 'utf8');
  const started = Date.now();
  const r = await callCa(ca.port, root, { csr: opensslCsr(work, 'cart', 'ec', 'spiffe://cluster.local/ns/shop/sa/cart').csr, token: 'some-service-account-token' });
  const took = Date.now() - started;
  t.like(r, { ok: false, code: status.UNAVAILABLE, details: 'request authenticate failure (try again)' });
  t.true(took >= 2_900 && took < 8_000, `answered after ${took} ms`);
  t.true(held.size > 0, 'the CA did reach the silent server');
  await eventually(() => {
    const line = ca.logs.find((l) => l.msg === 'refused certificate request');
    if (!line) throw new Error('no refusal logged yet');
    t.like(line, { refusal: 'review-unavailable', reason: 'TokenReview: no answer in 3000 ms' });
  });
});
