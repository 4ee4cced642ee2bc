import net from 'node:net';
import type { ExecutionContext } from 'ava';
import { privilegedTest } from '../helpers/privileged.js';
import { agentWithCa, httpCall, ready, startProcess, until } from './agent-harness.js';

// How the agent process ends: SIGTERM drains open connections until the deadline, an idle
// agent exits at once, a second signal ends the drain. The harness sets --drain-deadline 2s.
async function runningAgent(t: ExecutionContext) {
  const { args, ports } = await agentWithCa(t, 'i-life-');
  const agent = startProcess(t, args);
  await ready(ports.readiness);
  return { agent, ports };
}

/** A connection to `port` that sent half a request: the server cannot finish it gracefully. */
async function stuckRequest(t: ExecutionContext, port: number): Promise<{ closed: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
  return { closed: new Promise((resolve) => socket.once('close', () => resolve())) };
}

function refused(port: number): Promise<boolean> {
  return httpCall({ port }, 'GET', '/healthz/ready').then(() => false, (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED');
}

privilegedTest('SIGTERM with no open connections exits 0 in under a second', async (t) => {
  const { agent } = await runningAgent(t);
  const started = Date.now();
  agent.child.kill('SIGTERM');
  t.is(await agent.exited, 0);
  t.true(Date.now() - started < 1_000, `exited after ${Date.now() - started} ms`);
});

privilegedTest('SIGTERM with a stuck connection stops readiness at once, force-closes at the drain deadline and exits 0', async (t) => {
  const { agent, ports } = await runningAgent(t);
  const stuck = await stuckRequest(t, ports.metrics);
  const started = Date.now();
  agent.child.kill('SIGTERM');
  await until(() => refused(ports.readiness), 'readiness to refuse connections', 1_500);
  t.is(agent.child.exitCode, null, 'still draining while the connection is open');
  t.is(await agent.exited, 0);
  const took = Date.now() - started;
  t.true(took >= 1_900 && took < 4_000, `exited ${took} ms after SIGTERM (deadline 2 s)`);
  await stuck.closed;
  t.true(agent.lines.some((l) => l.includes('drain overran its deadline') && l.includes('metrics')));
});

privilegedTest('a second SIGINT during the drain exits at once', async (t) => {
  const { agent, ports } = await runningAgent(t);
  await stuckRequest(t, ports.metrics);
  agent.child.kill('SIGINT');
  await until(() => agent.lines.some((l) => l.includes('draining')), 'the drain to start', 1_500);
  const started = Date.now();
  agent.child.kill('SIGINT');
  t.is(await agent.exited, 0);
  t.true(Date.now() - started < 1_000, `exited ${Date.now() - started} ms after the second SIGINT`);
  t.true(agent.lines.some((l) => l.includes('second SIGINT')));
});
