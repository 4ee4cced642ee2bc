import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { privilegedTest, uniqueName } from '../helpers/privileged.js';
import { agentArgs, httpCall, ready, startCa, startProcess, tempDir, until } from './agent-harness.js';
import { AGENT_TEST_MESH, podBody } from './agent-mesh.js';

function netns(t: { teardown(fn: () => void): void }): { name: string; path: string } {
  const name = uniqueName('d1rs');
  execFileSync('ip', ['netns', 'add', name]);
  t.teardown(() => { try { execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' }); } catch { /* gone */ } });
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return { name, path: `/run/netns/${name}` };
}

function podPorts(ns: string): number[] {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'ss', '-Htln'], { encoding: 'utf8' });
  return [15001, 15006, 15008].filter((p) => out.includes(`:${p} `));
}

privilegedTest('after a restart the agent reopens the listeners of pods whose netns exists before it is ready, and forgets the others', async (t) => {
  const dir = await tempDir(t, 'd1-restart-');
  const ca = await startCa(t, dir);
  const config = join(dir, 'mesh.yaml');
  await writeFile(config, AGENT_TEST_MESH);
  const { args, ports, socket, stateDir } = await agentArgs(dir, ca, config);
  const kept = netns(t);
  const gone = netns(t);

  const first = startProcess(t, args);
  await ready(ports.readiness);
  t.is((await httpCall({ socketPath: socket }, 'POST', '/v1/pods', podBody('uid-kept', 'cart-0', kept.path, '10.78.0.2'))).status, 200);
  t.is((await httpCall({ socketPath: socket }, 'POST', '/v1/pods', podBody('uid-gone', 'web-0', gone.path, '10.78.0.3'))).status, 200);
  t.deepEqual(podPorts(kept.name), [15001, 15006, 15008]);
  t.is((await readdir(join(stateDir, 'pods'))).length, 2);
  await until(async () => (await httpCall({ port: ports.admin }, 'GET', '/certs')).body.includes('"available"'), 'a certificate from the CA');

  first.child.kill('SIGTERM');
  t.is(await first.exited, 0, 'SIGTERM drains and exits 0');
  t.deepEqual(podPorts(kept.name), [], 'the stopped agent left no listeners');
  execFileSync('ip', ['netns', 'del', gone.name]);

  const second = startProcess(t, args);
  await ready(ports.readiness);
  t.deepEqual(podPorts(kept.name), [15001, 15006, 15008], 'listeners were reopened before readiness');
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
  const pod = netns(t);

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
  t.deepEqual(podPorts(pod.name), [], 'no listeners were opened in the unrelated namespace');
  t.is((await httpCall({ socketPath: socket }, 'GET', '/v1/pods/uid-1')).status, 404);
  t.deepEqual(await readdir(join(stateDir, 'pods')), []);
  t.true(second.lines.some((l) => l.includes('now names a different network namespace')));
}, ['ip', 'ss']);
