import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMeshnode } from '../helpers/meshnode-cli.js';

const isRoot = process.getuid?.() === 0;

test('capture flags without --host-mode are a usage error naming the flag', async (t) => {
  const r = await runMeshnode(['agent', '--config', '/nonexistent', '--node', 'n', '--inbound-ports', '8080']);
  t.is(r.code, 2);
  t.regex(r.stderr, /--inbound-ports applies only with --host-mode/);
});

(isRoot ? test : test.skip)('--host-mode refuses to run as root, whose uid would exempt every root process from capture', async (t) => {
  const r = await runMeshnode(['agent', '--host-mode', '--config', '/nonexistent', '--node', 'n']);
  t.is(r.code, 1);
  t.regex(r.stderr, /--host-mode exempts the agent's own traffic from capture by its user id/);
});

test('host-rules check without a record says so and exits 1; bad flags exit 2 with the usage', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-hostrules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const check = await runMeshnode(['host-rules', 'check', '--state-dir', dir]);
  t.is(check.code, 1);
  t.regex(check.stdout, /no host rules recorded in .*host-rules\.json/);
  const bad = await runMeshnode(['host-rules', 'remove', '--state']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /usage: meshnode host-rules remove/);
  const help = await runMeshnode(['help', 'host-rules', 'check']);
  t.regex(help.stdout, /MESHNODE_HOST_INBOUND/);
});
