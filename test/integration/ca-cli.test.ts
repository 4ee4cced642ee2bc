import test from 'ava';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { meshnodeBin } from '../helpers/paths.js';
import { openssl, removeDir, startCa, tempDir } from './ca-support.js';

test('meshnode ca without --dir is a usage error', (t) => {
  const res = spawnSync(process.execPath, [meshnodeBin, 'ca'], { encoding: 'utf8' });
  t.is(res.status, 2);
  t.regex(res.stderr, /missing required flag --dir/);
  t.regex(res.stderr, /usage: meshnode ca --dir DIR/);
});

const badFlags: [string[], RegExp][] = [
  [['--max-ttl', 'forever'], /--max-ttl/],
  [['--default-ttl', '100d'], /--default-ttl must not exceed --max-ttl/],
  [['--listen', 'nowhere'], /--listen/],
  [['--trust-domain', 'Bad Domain'], /--trust-domain/],
  [['--kubeconfig', '/etc/kubeconfig'], /--kubeconfig needs --kube/],
  [['--token-audience', 'istio-ca'], /--token-audience needs --kube/],
  [['--kube', '--trusted-node-accounts', 'meshnode-system'], /"meshnode-system" is not NAMESPACE\/SERVICEACCOUNT/],
  [['--kube', '--trusted-node-accounts', 'ok/agent,Bad/x'], /"Bad\/x" is not NAMESPACE\/SERVICEACCOUNT/],
  [['--kube', '--token-audience', ''], /--token-audience: must not be empty/],
  [['--metrics-address', 'nowhere'], /--metrics-address/],
];

for (const [flags, error] of badFlags) {
  test(`meshnode ca ${flags.join(' ')} is a usage error`, (t) => {
    const res = spawnSync(process.execPath, [meshnodeBin, 'ca', '--dir', '/nonexistent/never-created', ...flags], { encoding: 'utf8' });
    t.is(res.status, 2);
    t.regex(res.stderr, error);
  });
}

const startupErrors: [string, string, RegExp][] = [
  ['a missing tokens file', '/nonexistent/tokens.yaml', /cannot read tokens file \/nonexistent\/tokens\.yaml: ENOENT/],
  ['a malformed tokens file', 'SHORT', /entry 1: token must be a string of at least 16 characters/],
];

test('--kube outside a cluster and without --kubeconfig stops meshnode ca at startup with the reason', (t) => {
  const work = tempDir('mn-ca-kube-');
  t.teardown(() => removeDir(work));
  const env = { ...process.env, KUBERNETES_SERVICE_HOST: '', KUBERNETES_SERVICE_PORT: '' };
  const res = spawnSync(process.execPath, [meshnodeBin, 'ca', '--dir', join(work, 'ca'), '--listen', '127.0.0.1:0', '--kube'], { encoding: 'utf8', env });
  t.is(res.status, 1);
  t.regex(res.stderr, /meshnode ca: cannot load the in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set/);
  t.notRegex(res.stderr, /\n\s+at /, 'no stack trace');
});

test('--kube with a missing kubeconfig stops meshnode ca at startup naming the file', (t) => {
  const work = tempDir('mn-ca-kube-');
  t.teardown(() => removeDir(work));
  const res = spawnSync(process.execPath, [meshnodeBin, 'ca', '--dir', join(work, 'ca'), '--listen', '127.0.0.1:0', '--kube', '--kubeconfig', join(work, 'none.yaml')], { encoding: 'utf8' });
  t.is(res.status, 1);
  t.regex(res.stderr, /meshnode ca: cannot load kubeconfig .*none\.yaml/);
});

for (const [what, file, error] of startupErrors) {
  test(`${what} stops meshnode ca at startup with the reason`, (t) => {
    const work = tempDir('mn-ca-tok-');
    t.teardown(() => removeDir(work));
    const tokens = file === 'SHORT' ? join(work, 'tokens.yaml') : file;
    if (file === 'SHORT') writeFileSync(tokens, '- {token: short, identity: "spiffe://td/ns/a/sa/b"}\n');
    const res = spawnSync(process.execPath, [meshnodeBin, 'ca', '--dir', join(work, 'ca'), '--listen', '127.0.0.1:0', '--tokens', tokens], { encoding: 'utf8' });
    t.is(res.status, 1);
    t.regex(res.stderr, error);
  });
}

test('the serving certificate is issued by the CA for --hostname names and the listen address', async (t) => {
  const work = tempDir('mn-ca-cli-');
  t.teardown(() => removeDir(work));
  const ca = await startCa(join(work, 'ca'), ['--hostname', 'ca.mesh.test', '--hostname', '10.9.8.7']);
  t.teardown(() => ca.stop());
  // The CA speaks gRPC only: offer h2, and read s_client's report whatever its exit status (it
  // depends on how fast the server closes the idle connection).
  const shown = spawnSync('openssl', ['s_client', '-alpn', 'h2', '-connect', `127.0.0.1:${ca.port}`, '-CAfile', join(work, 'ca', 'root-cert.pem'), '-verify_return_error', '-verify_ip', '127.0.0.1'], { input: '', encoding: 'utf8' }).stdout;
  t.regex(shown, /Verify return code: 0 \(ok\)/);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(shown)?.[0];
  if (!pem) return t.fail('s_client showed no server certificate');
  const text = openssl(['x509', '-noout', '-ext', 'subjectAltName'], pem);
  t.regex(text, /DNS:ca\.mesh\.test/);
  t.regex(text, /IP Address:10\.9\.8\.7/);
  t.regex(text, /IP Address:127\.0\.0\.1/);
});

test('a port already in use stops meshnode ca with one line naming the address, exit 1, no stack trace', async (t) => {
  const work = tempDir('mn-ca-port-');
  t.teardown(() => removeDir(work));
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const { port } = blocker.address() as net.AddressInfo;
  const res = spawnSync(process.execPath, [meshnodeBin, 'ca', '--dir', join(work, 'ca'), '--listen', `127.0.0.1:${port}`], { encoding: 'utf8', timeout: 30_000 });
  t.is(res.status, 1, res.stderr);
  t.regex(res.stderr, new RegExp(`^meshnode ca: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE$`, 'm'));
  t.notRegex(res.stderr, /^\s+at /m, 'no stack trace');
});
