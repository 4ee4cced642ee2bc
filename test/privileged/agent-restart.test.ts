import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listeningPodPorts, podBody, podNetns } from '../helpers/pod-netns.js';
import { privilegedTest } from '../helpers/privileged.js';
import { agentArgs, agentWithCa, httpCall, ready, startProcess, tempDir, until } from './agent-harness.js';
import { AGENT_TEST_MESH } from './agent-mesh.js';

privilegedTest('after a restart the agent reopens the listeners of pods whose netns exists before it is ready, and forgets the others', async (t) => {
  const { args, ports, socket, stateDir } = await agentWithCa(t, 'd1-restart-');
  const kept = podNetns(t, 'd1rs');
  const gone = podNetns(t, 'd1rs');

  const first = startProcess(t, args);
  await ready(ports.readiness);
  t.is((await httpCall({ socketPath: socket }, 'POST', '/v1/pods', podBody('uid-kept', 'cart-0', kept.path, '10.78.0.2'))).status, 200);
  t.is((await httpCall({ socketPath: socket }, 'POST', '/v1/pods', podBody('uid-gone', 'web-0', gone.path, '10.78.0.3'))).status, 200);
  t.deepEqual(listeningPodPorts(kept.name), [15001, 15006, 15008]);
  t.is((await readdir(join(stateDir, 'pods'))).length, 2);
  await until(async () => (await httpCall({ port: ports.admin }, 'GET', '/certs')).body.includes('"available"'), 'a certificate from the CA');

  first.child.kill('SIGTERM');
  t.is(await first.exited, 0, 'SIGTERM drains and exits 0');
  t.deepEqual(listeningPodPorts(kept.name), [], 'the stopped agent left no listeners');
  execFileSync('ip', ['netns', 'del', gone.name]);

  const second = startProcess(t, args);
  await ready(ports.readiness);
  t.deepEqual(listeningPodPorts(kept.name), [15001, 15006, 15008], 'listeners were reopened before readiness');
  const pod = await httpCall({ socketPath: socket }, 'GET', '/v1/pods/uid-kept');
  t.is(pod.status, 200);
  t.like(JSON.parse(pod.body), { uid: 'uid-kept', name: 'cart-0', netns: kept.path, ips: ['10.78.0.2'] });
  t.is((await httpCall({ socketPath: socket }, 'GET', '/v1/pods/uid-gone')).status, 404);
  t.is((await readdir(join(stateDir, 'pods'))).length, 1, 'the registration of the deleted netns is forgotten');
  const metrics = (await httpCall({ port: ports.metrics }, 'GET', '/metrics')).body;
  t.regex(metrics, /meshnode_pods_restored_total\{result="reopened"\} 1/);
  t.regex(metrics, /meshnode_pods_restored_total\{result="forgotten"\} 1/);
  t.regex(metrics, /meshnode_registered_pods 1/);
  const dump = JSON.parse((await httpCall({ port: ports.admin }, 'GET', '/config_dump')).body) as { workloadState: Record<string, unknown> };
  t.deepEqual(Object.keys(dump.workloadState), ['uid-kept']);

  t.like(await httpCall({ port: ports.admin }, 'POST', '/quitquitquit'), { status: 200, body: 'shutdown now\n' });
  t.is(await second.exited, 0, '/quitquitquit drains and exits 0');
  t.false(existsSync(socket), 'the CNI socket is removed on shutdown');
}, ['ip', 'ss']);

privilegedTest('after a restart a netns path that now names a different namespace is not reopened', async (t) => {
  const dir = await tempDir(t, 'd1-reuse-');
  const config = join(dir, 'mesh.yaml');
  await writeFile(config, AGENT_TEST_MESH);
  const { args, ports, socket, stateDir } = await agentArgs(dir, { port: 9, rootFile: join(dir, 'none.pem'), tokenFile: join(dir, 'none') }, config);
  const pod = podNetns(t, 'd1rs');

  const first = startProcess(t, args);
  await ready(ports.readiness);
  t.is((await httpCall({ socketPath: socket }, 'POST', '/v1/pods', podBody('uid-1', 'cart-0', pod.path, '10.78.0.2'))).status, 200);
  first.child.kill('SIGTERM');
  t.is(await first.exited, 0);

  // Same path, new namespace: as when a PID in /proc/<pid>/ns/net is reused.
  execFileSync('ip', ['netns', 'del', pod.name]);
  execFileSync('ip', ['netns', 'add', pod.name]);
  const second = startProcess(t, args);
  await ready(ports.readiness);
  t.deepEqual(listeningPodPorts(pod.name), [], 'no listeners were opened in the unrelated namespace');
  t.is((await httpCall({ socketPath: socket }, 'GET', '/v1/pods/uid-1')).status, 404);
  t.deepEqual(await readdir(join(stateDir, 'pods')), []);
  t.true(second.lines.some((l) => l.includes('now names a different network namespace')));
}, ['ip', 'ss']);
