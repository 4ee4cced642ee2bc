import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { TokenTable } from '../../agent/ca/tokens.js';
import { loadMeshConfig } from '../../agent/model/load.js';
import { runMeshnode } from '../helpers/meshnode-cli.js';

function setup(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-bootstrap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'root-cert.pem'), '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n');
  writeFileSync(join(dir, 'tokens.yaml'), '- token: existing-token-0123456789\n  identity: spiffe://cluster.local/ns/istio-system/sa/ztunnel\n');
  const args = ['vm', 'bootstrap', '--name', 'billing-vm', '--namespace', 'shop', '--service-account', 'billing', '--address', '10.20.0.7',
    '--port', 'http=8080', '--label', 'app=billing', '--ca-address', 'ca.example:15012', '--ca-dir', dir, '--tokens', join(dir, 'tokens.yaml'),
    '--token-ttl', '30m', '--out', join(dir, 'out')];
  return { dir, args };
}

test('vm bootstrap writes the root, a token, the agent settings and a WorkloadEntry the mesh config accepts, and grants the token', async (t) => {
  const { dir, args } = setup(t);
  const r = await runMeshnode(args);
  t.is(r.code, 0, r.stderr);
  const out = join(dir, 'out');
  t.is(readFileSync(join(out, 'root-cert.pem'), 'utf8'), readFileSync(join(dir, 'root-cert.pem'), 'utf8'));
  const token = readFileSync(join(out, 'ca-token'), 'utf8').trim();
  t.regex(token, /^[0-9a-f]{64}$/);
  t.is(statSync(join(out, 'ca-token')).mode & 0o777, 0o600);
  t.regex(readFileSync(join(out, 'meshnode-agent'), 'utf8'), /^MESHNODE_NODE=billing-vm\nMESHNODE_CA_ADDRESS=ca\.example:15012$/m);
  const tokens = TokenTable.parse(readFileSync(join(dir, 'tokens.yaml'), 'utf8'), 'tokens.yaml');
  t.is(tokens.size, 2, 'the existing grant is kept');
  t.is(String(tokens.lookup(token)?.identity), 'spiffe://cluster.local/ns/shop/sa/billing');
  t.deepEqual(tokens.lookup(token)?.impersonate, [], 'the VM token grants its own identity only');
  t.is(tokens.lookup(token, Date.now() + 31 * 60_000), undefined, 'the token expires after --token-ttl');
  const we = parse(readFileSync(join(out, 'workload-entry.yaml'), 'utf8')) as { metadata: { annotations: Record<string, string> } };
  t.is(we.metadata.annotations['meshnode.io/node'], 'billing-vm');
  writeFileSync(join(dir, 'mesh.yaml'), `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio.io/dataplane-mode: ambient\n---\n${readFileSync(join(out, 'workload-entry.yaml'), 'utf8')}`);
  const loaded = await loadMeshConfig(join(dir, 'mesh.yaml'), { trustDomain: 'cluster.local', rootNamespace: 'istio-system' });
  const w = [...(loaded.snapshot?.workloads.values() ?? [])][0];
  t.like(w, { kind: 'WorkloadEntry', name: 'billing-vm', node: 'billing-vm', addresses: ['10.20.0.7'], protocol: 'HBONE' });
});

test('vm bootstrap names what is wrong: a bad address, a missing CA dir', async (t) => {
  const { dir, args } = setup(t);
  const bad = await runMeshnode(args.map((a) => (a === '10.20.0.7' ? '10.20.0' : a)));
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--address: "10\.20\.0" is not an IP address/);
  const noCa = await runMeshnode(args.map((a) => (a === dir ? join(dir, 'nope') : a)));
  t.is(noCa.code, 2);
  t.regex(noCa.stderr, /--ca-dir: .*root-cert\.pem does not exist/);
});
