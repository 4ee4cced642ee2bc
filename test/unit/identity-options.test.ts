import test from 'ava';
import { parseArgs } from 'node:util';
import { identityFlagSpecs, parseIdentityOptions } from '../../agent/cli/identity-flags.js';

const parse = (args: string[]) => parseIdentityOptions(parseArgs({ args, options: identityFlagSpecs, strict: true }).values);

test('defaults follow ztunnel: localhost:15012, the mounted root, 24h, cluster Kubernetes', (t) => {
  const o = parse(['--node', 'n1']);
  t.deepEqual(o.caAddress, { host: 'localhost', port: 15012 });
  t.is(o.caRootFile, '/var/run/secrets/istio/root-cert.pem');
  t.is(o.trustBundleFile, o.caRootFile);
  t.is(o.certTtlMs, 86_400_000);
  t.is(o.clusterId, 'Kubernetes');
  t.is(o.node, 'n1');
  t.is(o.tokenFile, undefined);
  t.is(o.certDir, undefined);
});

test('every identity flag reaches the options', (t) => {
  const o = parse(['--node', 'n2', '--ca-address', '[::1]:9000', '--ca-root', '/r.pem', '--ca-token-file', '/t', '--cluster-id', 'c1',
    '--trust-bundle', '/b.pem', '--cert-ttl', '1h30m', '--cert-dir', '/certs']);
  t.like(o, { node: 'n2', caAddress: { host: '::1', port: 9000 }, caRootFile: '/r.pem', tokenFile: '/t', clusterId: 'c1',
    trustBundleFile: '/b.pem', certTtlMs: 5_400_000, certDir: '/certs' });
});

const bad: [string[], RegExp][] = [
  [['--ca-address', 'nohost'], /--ca-address/],
  [['--ca-address', 'h:0'], /non-zero port/],
  [['--cert-ttl', 'soon'], /--cert-ttl/],
  [['--cert-ttl', '1s'], /at least 2s/],
  [['--cert-dir', ''], /--cert-dir must not be empty/],
];

for (const [args, error] of bad) {
  test(`${args.join(' ')} is a usage error`, (t) => {
    const err = t.throws(() => parse(args));
    t.is((err as { code?: string }).code, 'ERR_USAGE');
    t.regex(err!.message, error);
  });
}
