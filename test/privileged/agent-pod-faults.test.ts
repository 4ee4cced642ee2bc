import { spawn } from 'node:child_process';
import { listeningPodPorts, podBody, podNetns, podPortSockets } from '../helpers/pod-netns.js';
import { privilegedTest } from '../helpers/privileged.js';
import { agentWithCa, httpCall, ready, startProcess, until } from './agent-harness.js';

// A pod listener cannot bind. That pod is refused with the reason and leaves
// nothing open; other pods and the agent are unaffected; a retry after the port frees works.
privilegedTest('a pod whose port 15006 is taken is refused naming the port, leaks no listener, and does not affect other pods', async (t) => {
  const { args, ports, socket } = await agentWithCa(t, 'i-bind-');
  const blocked = podNetns(t, 'ibnd');
  const other = podNetns(t, 'ibnd');
  const squatter = spawn('ip', ['netns', 'exec', blocked.name, process.execPath, '-e', 'require("net").createServer().listen(15006, "0.0.0.0", () => console.log("up"))'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const squatterGone = new Promise((resolve) => squatter.once('exit', resolve));
  t.teardown(() => { squatter.kill('SIGKILL'); });
  await new Promise((resolve) => squatter.stdout!.once('data', resolve));

  const agent = startProcess(t, args);
  await ready(ports.readiness);
  const refused = await httpCall({ socketPath: socket }, 'POST', '/v1/pods', podBody('uid-blocked', 'cart-0', blocked.path, '10.78.0.2'));
  t.true(refused.status >= 400, `status ${refused.status}`);
  t.regex(JSON.parse(refused.body).error, /15006|EADDRINUSE/);
  t.deepEqual(podPortSockets(blocked.name), { 15001: 0, 15006: 1, 15008: 0 }, 'only the squatter listens; the agent closed what it had opened');
  t.is((await httpCall({ socketPath: socket }, 'GET', '/v1/pods/uid-blocked')).status, 404);

  t.is((await httpCall({ socketPath: socket }, 'POST', '/v1/pods', podBody('uid-other', 'web-0', other.path, '10.78.0.3'))).status, 200);
  t.deepEqual(listeningPodPorts(other.name), [15001, 15006, 15008]);
  t.is(agent.child.exitCode, null);
  t.is((await httpCall({ port: ports.readiness }, 'GET', '/healthz/ready')).status, 200);

  squatter.kill('SIGKILL');
  await squatterGone;
  await until(async () => (await httpCall({ socketPath: socket }, 'POST', '/v1/pods', podBody('uid-blocked', 'cart-0', blocked.path, '10.78.0.2'))).status === 200, 'the retried registration');
  t.deepEqual(listeningPodPorts(blocked.name), [15001, 15006, 15008]);
}, ['ip', 'ss']);
