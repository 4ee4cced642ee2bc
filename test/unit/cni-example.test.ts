import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNetConf } from '../../cni/netconf.js';
import { examplesDir } from '../helpers/paths.js';

test('the example conflist chains bridge (host-local IPAM) and a valid meshnode-cni entry last', (t) => {
  const list = JSON.parse(readFileSync(join(examplesDir, 'cni/10-meshnode.conflist'), 'utf8'));
  t.deepEqual(list.plugins.map((p: { type: string }) => p.type), ['bridge', 'meshnode-cni']);
  t.is(list.plugins[0].ipam.type, 'host-local');
  const conf = parseNetConf(JSON.stringify({ ...list.plugins[1], cniVersion: list.cniVersion, name: list.name }));
  t.is(conf.agentSocket, '/var/run/meshnode/cni.sock');
});
